#include "conet/proxy/client.hpp"

#include <spdlog/spdlog.h>

#include <cmath>

#include <boost/json.hpp>

#include "conet/net/circuit_handshake.hpp"
#include "conet/util/hex.hpp"

namespace conet::proxy {

namespace noise = crypto::noise;
namespace json = boost::json;
using net::CellCommand;
using net::EndReason;
using net::RelayCommand;
using Clock = std::chrono::steady_clock;

/// One link to an entry relay, shared by the circuits that start there.
struct EntryLink {
    std::shared_ptr<net::Link> link;
    crypto::X25519Public key{};
    std::map<std::uint32_t, std::weak_ptr<ClientCircuit>> circuits;
    std::uint32_t next_id = 1;
};

namespace {
TimeMs now_ms() {
    return static_cast<TimeMs>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count());
}
}  // namespace

/// Carries out what a circuit's core (circuit_core.hpp) decides: cells to
/// the entry link, streams' sockets, one timer for the core's next deadline.
class ClientCircuit final : public net::CircuitEnd {
public:
    enum class State { building, ready, dead };

    ClientCircuit(Client& client, std::string isolation_key)
        : net::CircuitEnd(client.io().get_executor()),
          m_client(client),
          isolation(std::move(isolation_key)),
          event(client.io().get_executor()),
          created_at(Clock::now()),
          m_timer(client.io()) {}

    std::size_t relay_headroom() const override { return net::cell_header_bytes; }

    /// Seals for every hop, in place, and sends.
    void send_relay_buffer(util::Bytes buf) override {
        if (state != State::ready || !core) return;
        if (!core->seal(buf)) {
            fail(EndReason::resource_limit);
            return;
        }
        send_cell(std::move(buf));
    }

    void fail(EndReason reason) override { die(reason, false, true); }

    void on_payload(std::size_t n) override { m_client.on_payload(*this, n); }

    /// Starts the build on `link` as circuit `id`.
    void start(std::shared_ptr<EntryLink> link, std::uint32_t id, CircuitTimeouts timeouts) {
        std::vector<crypto::X25519Public> keys;
        for (const auto& n : path) keys.push_back(n.noise_key);
        entry = std::move(link);
        core.emplace(std::move(keys), id, timeouts);
        apply(core->start(now_ms()));
    }

    void die(EndReason reason, bool link_failed, bool send_destroy) {
        if (state == State::dead) return;
        if (core) {
            apply(core->kill(reason, send_destroy, link_failed ? "link lost" : "closed"), link_failed);
            return;
        }
        state = State::dead;  // never started
        event.notify();
        m_client.circuit_died(*this, CircuitDeath{reason, std::nullopt, "closed"}, link_failed);
    }

    void on_cell(const net::CellView& cell) {
        if (core) apply(core->on_cell(cell, now_ms(), m_client.rng()));
    }

    std::uint32_t circuit_id() const { return core ? core->circuit_id() : 0; }

    /// Opens a stream for `socket`: the stream, and the id to wait for in `answers`.
    std::shared_ptr<net::SocketStream> open(tcp::socket socket, const net::Target& target) {
        auto actions = core->open_stream(target, now_ms());
        auto stream = std::make_shared<net::SocketStream>(std::move(socket), core->last_stream_id(),
                                                          std::static_pointer_cast<ClientCircuit>(shared_from_this()));
        add_stream(stream);
        ++streams_opened;
        apply(std::move(actions));
        return stream;
    }

    Client& m_client;
    std::string isolation;
    State state = State::building;
    std::vector<ledger::NodeRecord> path;  ///< copies: the directory may be replaced
    std::shared_ptr<EntryLink> entry;
    std::optional<ClientCircuitCore> core;  ///< from when the entry link is up
    net::Signal event;                      ///< an answer arrived or the circuit died
    std::map<std::uint32_t, StreamAnswer> answers;
    std::uint64_t streams_opened = 0;
    Clock::time_point created_at;
    bool retired = false;  ///< closed by us, not failed: no relay is to blame

private:
    void send_cell(util::Bytes cell) {
        if (entry && entry->link->is_open()) entry->link->send(std::move(cell));
    }

    void apply(CircuitActions a, bool link_failed = false) {
        for (auto& cell : a.cells) send_cell(std::move(cell));
        if (a.entry_rtt) m_client.note_entry_rtt(path.front().noise_key, std::chrono::milliseconds(*a.entry_rtt));
        if (a.refusal) m_client.note_refusal(*a.refusal);
        for (const auto& answer : a.answers) {
            answers[answer.stream_id] = answer;
            if (!answer.connected) remove_stream(answer.stream_id);
        }
        if (!a.answers.empty()) event.notify();
        if (a.message && !on_stream_message(a.message->view)) {
            die(EndReason::protocol_error, false, true);
            return;
        }
        if (a.ready) {
            state = State::ready;
            m_client.circuit_ready(*this);
        }
        if (a.death) {
            state = State::dead;
            m_timer.cancel();
            if (entry) entry->circuits.erase(core->circuit_id());
            close_all_streams(a.death->reason);
            event.notify();
            m_client.circuit_died(*this, *a.death, link_failed);
            return;
        }
        arm_timer();
    }

    /// Keeps the timer at the core's next deadline (re-armed only when it moves).
    void arm_timer() {
        const auto next = core->next_deadline();
        if (next == m_armed) return;
        m_armed = next;
        if (!next) {
            m_timer.cancel();
            return;
        }
        m_timer.expires_at(Clock::time_point(std::chrono::milliseconds(*next)));
        std::weak_ptr<ClientCircuit> weak = std::static_pointer_cast<ClientCircuit>(shared_from_this());
        m_timer.async_wait([weak, at = *next](boost::system::error_code ec) {
            auto self = weak.lock();
            if (ec || !self || self->m_armed != at || self->state == State::dead) return;
            self->m_armed.reset();
            self->apply(self->core->on_time(now_ms()));
        });
    }

    asio::steady_timer m_timer;
    std::optional<TimeMs> m_armed;  ///< the deadline m_timer waits for
};

namespace {

std::string describe_node(const ledger::NodeRecord& n) {
    return util::to_hex(util::ByteView(n.noise_key).first(4)) + "@" +
           (n.endpoints.empty() ? std::string("?") : n.endpoints.front().to_string()) + "/" + n.region;
}

}  // namespace

Client::Client(asio::io_context& io, ClientOptions options, ledger::Directory directory, util::Rng& rng)
    : m_io(io),
      m_options(std::move(options)),
      m_guards(m_options.entry_guards),
      m_rng(rng),
      m_pool_changed(io.get_executor()),
      m_tick(io) {
    m_directory = usable(std::move(directory));
}

ledger::Directory Client::usable(ledger::Directory directory) {
    std::vector<ledger::NodeRecord> records;
    std::vector<std::uint64_t> stakes;
    m_relays_refused = 0;
    std::set<crypto::X25519Public> refused;
    const auto& all = directory.records();
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (const auto* bad = ledger::first_disallowed_endpoint(all[i].endpoints, m_options.allow_private_relays)) {
            refused.insert(all[i].noise_key);
            ++m_relays_refused;
            // Logged when first refused, not at every refresh: records are
            // what a peer controls, so this must not become a steady flood.
            if (m_refused_keys.count(all[i].noise_key)) continue;
            spdlog::warn("[proxy] refusing relay {}: endpoint {} is a {}{}", describe_node(all[i]), bad->to_string(),
                         ledger::describe(ledger::endpoint_scope(*bad)),
                         ledger::endpoint_scope(*bad) == ledger::EndpointScope::not_ip_literal
                             ? ""
                             : " (allowed only with --allow-private-relays, on a devnet)");
            continue;
        }
        records.push_back(all[i]);
        stakes.push_back(directory.stake(i));
    }
    m_refused_keys = std::move(refused);
    if (!directory.has_stakes()) return ledger::Directory(std::move(records));
    return ledger::Directory(std::move(records), std::move(stakes));
}

Client::~Client() {
    stop();
}

void Client::start() {
    asio::co_spawn(m_io, maintain_loop(), asio::detached);
}

void Client::set_directory(ledger::Directory directory) {
    m_directory = usable(std::move(directory));
    m_pool_changed.notify();
}

void Client::stop() {
    if (m_stopped) return;
    m_stopped = true;
    m_tick.cancel();
    auto links = m_links;
    for (auto& [k, l] : links) l->link->close("proxy shutting down");
}

bool Client::relay_failed(const crypto::X25519Public& key) const {
    auto it = m_failed_until.find(key);
    return it != m_failed_until.end() && it->second > Clock::now();
}

void Client::mark_failed(const ledger::NodeRecord& node, const std::string& why) {
    const bool already = relay_failed(node.noise_key);
    m_failed_until[node.noise_key] = Clock::now() + std::chrono::milliseconds(m_options.relay_retry_ms);
    if (!already)
        spdlog::warn("[proxy] relay {} failed ({}); avoiding it for {}s", describe_node(node), why,
                     m_options.relay_retry_ms / 1000);
}

std::vector<ledger::NodeRecord> Client::choose_path() {
    // Relays that failed recently are avoided while others can make a path;
    // when none can, trying them again beats giving up.
    auto path = choose_path(true);
    return path.empty() ? choose_path(false) : path;
}

std::vector<ledger::NodeRecord> Client::choose_path(bool avoid_failed) {
    const auto now = Clock::now();
    const auto max_age = std::chrono::milliseconds(m_options.entry_rtt_max_age_ms);
    auto views = relay_views(m_directory);
    for (auto& v : views) {
        v.failed = avoid_failed && relay_failed(v.record->noise_key);
        if (auto it = m_entry_rtt.find(v.record->noise_key);
            it != m_entry_rtt.end() && now - it->second.measured_at <= max_age)
            v.rtt_ms = it->second.ms;
        // Spread the pool over different exits when we can.
        for (auto& c : m_pool)
            if (c->state != ClientCircuit::State::dead && c->path.back().noise_key == v.record->noise_key)
                v.exit_in_use = true;
    }
    m_guards.update(views, m_rng);
    const auto guards = m_guards.primary(views);
    PathRules rules;
    rules.hops = m_options.hops;
    rules.exit_region = m_options.exit_region;
    rules.allow_same_network = m_options.allow_private_relays;
    std::vector<ledger::NodeRecord> path;
    for (const auto* r : proxy::choose_path(views, guards, rules, m_rng)) path.push_back(*r);
    return path;
}

awaitable<std::shared_ptr<EntryLink>> Client::entry_link(const ledger::NodeRecord& entry) {
    auto it = m_links.find(entry.noise_key);
    if (it != m_links.end() && it->second->link->is_open()) co_return it->second;
    for (const auto& ep : entry.endpoints) {
        // Records were checked when the directory was set; this keeps the
        // rule where the dial happens too. Never a DNS lookup for a relay.
        if (!ledger::endpoint_allowed(ep, m_options.allow_private_relays)) continue;
        boost::system::error_code ec;
        const auto addr = boost::asio::ip::make_address(ep.host, ec);
        if (ec) continue;
        const tcp::endpoint target(addr, ep.port);
        auto link = co_await net::Link::connect(m_io.get_executor(), target, nullptr, entry.noise_key, m_rng,
                                                m_options.link_limits);
        if (!link) continue;
        it = m_links.find(entry.noise_key);
        if (it != m_links.end() && it->second->link->is_open()) {
            (*link)->close("duplicate");
            co_return it->second;
        }
        auto el = std::make_shared<EntryLink>();
        el->link = *link;
        el->key = entry.noise_key;
        std::weak_ptr<EntryLink> weak = el;
        el->link->start(
            [weak](util::ByteView bytes) {
                auto self = weak.lock();
                if (!self) return;
                auto cell = net::parse_cell(bytes);
                if (!cell) {
                    self->link->close("malformed cell from entry");
                    return;
                }
                auto c = self->circuits.find(cell->circuit_id);
                if (c == self->circuits.end()) return;
                if (auto circ = c->second.lock()) circ->on_cell(*cell);
            },
            [this, weak, key = entry.noise_key](const std::string&) {
                auto self = weak.lock();
                if (!self) return;
                auto circuits = self->circuits;
                for (auto& [id, w] : circuits)
                    if (auto c = w.lock()) c->die(EndReason::destroyed, true, false);
                auto found = m_links.find(key);
                if (found != m_links.end() && found->second == self) m_links.erase(found);
            });
        m_links[entry.noise_key] = el;
        co_return el;
    }
    co_return nullptr;
}

std::shared_ptr<ClientCircuit> Client::start_build(std::string isolation) {
    auto circ = std::make_shared<ClientCircuit>(*this, std::move(isolation));
    circ->path = choose_path();
    if (circ->path.empty()) return nullptr;
    asio::co_spawn(m_io, build(circ), asio::detached);
    return circ;
}

awaitable<void> Client::build(std::shared_ptr<ClientCircuit> circ) {
    auto el = co_await entry_link(circ->path.front());
    if (!el) {
        ++m_circuits_failed;
        mark_failed(circ->path.front(), "cannot open a link");
        circ->state = ClientCircuit::State::dead;
        m_pool_changed.notify();
        co_return;
    }
    if (circ->state == ClientCircuit::State::dead) co_return;
    std::uint32_t id = el->next_id;
    while (id == 0 || el->circuits.count(id)) ++id;
    el->next_id = id + 1;
    el->circuits[id] = circ;
    // From here the circuit's core drives the build through the cells the entry sends.
    circ->start(el, id, CircuitTimeouts{m_options.build_timeout_ms, m_options.stream_timeout_ms});
}

void Client::circuit_died(ClientCircuit& c, const CircuitDeath& death, bool link_failed) {
    m_closed_bytes_sent += c.bytes_sent;
    m_closed_bytes_received += c.bytes_received;
    if (death.build_hop) {
        // The build failed: avoid the relay it was waiting for.
        CONET_ASSERT(*death.build_hop < c.path.size());
        ++m_circuits_failed;
        mark_failed(c.path[*death.build_hop], std::string(death.why));
    } else if (!c.retired && !c.path.empty() && c.core) {
        // A ready circuit died: blame the entry if its link failed, else the far end.
        if (link_failed)
            mark_failed(c.path.front(), "link lost");
        else
            mark_failed(c.path.back(), "circuit destroyed");
    }
    m_pool_changed.notify();
}

awaitable<void> Client::maintain_loop() {
    while (!m_stopped) {
        const auto now = Clock::now();
        std::erase_if(m_pool, [&](const std::shared_ptr<ClientCircuit>& c) {
            return c->state == ClientCircuit::State::dead ||
                   (c->state == ClientCircuit::State::ready &&
                    now - c->created_at > std::chrono::milliseconds(m_options.max_circuit_age_ms));
        });
        std::erase_if(m_isolated, [](const auto& kv) { return kv.second->state == ClientCircuit::State::dead; });
        while (m_pool.size() < m_options.pool_size) {
            auto c = start_build("");
            if (!c) break;
            m_pool.push_back(std::move(c));
        }
        flush_receipts();
        m_tick.expires_after(std::chrono::milliseconds(500));
        co_await m_tick.async_wait(net::use_nothrow);
    }
}

void Client::note_entry_rtt(const crypto::X25519Public& entry, Clock::duration rtt) {
    const double ms = std::chrono::duration<double, std::milli>(rtt).count();
    auto [it, fresh] = m_entry_rtt.try_emplace(entry, EntryRtt{ms, Clock::now()});
    if (!fresh) it->second = {0.7 * it->second.ms + 0.3 * ms, Clock::now()};  // EWMA
}

bool Client::make_room_for_isolated() {
    std::erase_if(m_isolated, [](const auto& kv) { return kv.second->state == ClientCircuit::State::dead; });
    if (m_isolated.size() < m_options.max_isolated) return true;
    // Retire the oldest circuit that carries no stream.
    auto victim = m_isolated.end();
    for (auto it = m_isolated.begin(); it != m_isolated.end(); ++it)
        if (it->second->stream_count() == 0 && it->second->state != ClientCircuit::State::building &&
            (victim == m_isolated.end() || it->second->created_at < victim->second->created_at))
            victim = it;
    if (victim == m_isolated.end()) return false;
    auto circuit = victim->second;
    m_isolated.erase(victim);
    circuit->retired = true;
    circuit->die(EndReason::done, false, true);
    return true;
}

awaitable<std::shared_ptr<ClientCircuit>> Client::circuit_for(std::string isolation) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(m_options.build_timeout_ms);
    asio::steady_timer timer(m_io);
    timer.expires_at(deadline);
    timer.async_wait([this](boost::system::error_code ec) {
        if (!ec) m_pool_changed.notify();
    });
    std::size_t builds = 0;
    while (!m_stopped && Clock::now() < deadline) {
        if (!isolation.empty()) {
            if (!m_isolated.count(isolation) && !make_room_for_isolated()) {
                spdlog::warn("[proxy] {} isolated circuits are all busy; refusing another", m_isolated.size());
                co_return nullptr;
            }
            auto& c = m_isolated[isolation];
            if (!c || c->state == ClientCircuit::State::dead) {
                if (m_options.isolated_build_attempts > 0 && builds++ >= m_options.isolated_build_attempts) {
                    m_isolated.erase(isolation);
                    co_return nullptr;
                }
                c = start_build(isolation);
            }
            if (c && c->state == ClientCircuit::State::ready) co_return c;
        } else {
            std::vector<std::shared_ptr<ClientCircuit>> ready;
            for (auto& c : m_pool)
                if (c->state == ClientCircuit::State::ready) ready.push_back(c);
            if (!ready.empty()) co_return ready[m_round_robin++ % ready.size()];
            if (m_pool.size() < m_options.pool_size || std::all_of(m_pool.begin(), m_pool.end(), [](auto& c) {
                    return c->state == ClientCircuit::State::dead;
                })) {
                std::erase_if(m_pool, [](auto& c) { return c->state == ClientCircuit::State::dead; });
                if (auto c = start_build("")) m_pool.push_back(std::move(c));
            }
        }
        co_await m_pool_changed.wait();
    }
    co_return nullptr;
}

awaitable<StreamOpen> Client::open_stream(tcp::socket socket, net::Target target, std::string isolation) {
    auto circ = co_await circuit_for(std::move(isolation));
    if (!circ) {
        auto orphan = std::make_shared<net::SocketStream>(std::move(socket), 0, std::weak_ptr<net::CircuitEnd>());
        co_return StreamOpen{orphan, false, EndReason::host_unreachable};
    }
    auto stream = circ->open(std::move(socket), target);
    const std::uint32_t id = stream->id();
    ++m_streams_opened;
    // The core answers by CONNECTED, RESET, its deadline or the circuit's death.
    while (!circ->answers.count(id)) co_await circ->event.wait();
    const StreamAnswer answer = circ->answers.at(id);
    circ->answers.erase(id);
    if (answer.connected && circ->state == ClientCircuit::State::ready) co_return StreamOpen{stream, true, {}};
    circ->remove_stream(id);
    co_return StreamOpen{stream, false, answer.connected ? EndReason::destroyed : answer.reason};
}

void Client::set_epoch(std::uint64_t epoch) {
    m_epoch = epoch;
    // Receipts of epochs the exits can no longer claim are forgotten.
    std::erase_if(m_usage, [epoch](const auto& u) { return u.first.epoch + 1 < epoch; });
}

void Client::on_payload(ClientCircuit& c, std::size_t n) {
    if (!m_options.wallet || !m_epoch || c.path.size() < 2) return;
    UsageCount& u = m_usage[UsageKey{c.path.back().noise_key, *m_epoch, c.path.front().noise_key}];
    u.carried += n;
    if (u.carried - u.receipted >= m_options.wallet->receipt_every_bytes) send_receipts(c, false);
}

void Client::circuit_ready(ClientCircuit& c) {
    ++m_circuits_built;
    m_pool_changed.notify();
    // The first receipt binds the circuit to the wallet at the exit (and
    // settles what earlier circuits to that exit left unreceipted).
    if (m_options.wallet && m_epoch && c.path.size() >= 2) send_receipts(c, true);
}

void Client::flush_receipts() {
    if (!m_options.wallet || !m_epoch) return;
    // What was carried since the last receipt (the tail of a download) is
    // receipted soon, through any ready circuit to the same exit.
    std::set<crypto::X25519Public> dirty;
    for (const auto& [k, u] : m_usage)
        if (u.carried > u.receipted) dirty.insert(k.exit);
    auto flush = [&](const std::shared_ptr<ClientCircuit>& c) {
        if (dirty.empty() || c->state != ClientCircuit::State::ready || c->path.size() < 2) return;
        if (dirty.erase(c->path.back().noise_key)) send_receipts(*c, false);
    };
    for (const auto& c : m_pool) flush(c);
    for (const auto& [k, c] : m_isolated) flush(c);
}

void Client::send_receipts(ClientCircuit& c, bool even_if_nothing_new) {
    const WalletOptions& w = *m_options.wallet;
    const crypto::X25519Public exit = c.path.back().noise_key;
    const UsageKey here{exit, *m_epoch, c.path.front().noise_key};
    m_usage.try_emplace(here);
    bool sent = false;
    for (auto it = m_usage.lower_bound(UsageKey{exit, 0, {}}); it != m_usage.end() && it->first.exit == exit; ++it) {
        UsageCount& u = it->second;
        if (u.carried == u.receipted) continue;
        send_receipt(c, w, it->first, u.carried);
        u.receipted = u.carried;
        sent = true;
    }
    if (even_if_nothing_new && !sent) send_receipt(c, w, here, m_usage[here].carried);
}

void Client::send_receipt(ClientCircuit& c, const WalletOptions& w, const UsageKey& k, std::uint64_t bytes) {
    const ledger::ReceiptFields f{w.chain_id, k.exit, k.entry, k.epoch, bytes};
    const ledger::ReceiptMessage m{k.epoch, k.entry, bytes, crypto::sign_hash(*w.key, f.digest())};
    c.send_relay(RelayCommand::receipt, 0, codec::encode(m));
}

std::string_view describe(RouteError e) {
    switch (e) {
        case RouteError::bad_hops: return "hops must be 2 or 3";
        case RouteError::bad_region:
            return "an exit region is two capital letters (ISO 3166 alpha-2, e.g. DE) or empty for any";
        case RouteError::no_exit_in_region: return "no known exit is in that region";
    }
    return "bad route";
}

std::vector<std::string> Client::exit_regions() const {
    std::set<std::string> regions;
    for (const auto& r : m_directory.records())
        if (r.capabilities & ledger::capability_exit) regions.insert(r.region);
    return {regions.begin(), regions.end()};
}

util::Result<void, RouteError> Client::set_route(std::size_t hops, std::string exit_region) {
    if (hops != 2 && hops != 3) return util::unexpected(RouteError::bad_hops);
    if (!exit_region.empty() && (exit_region.size() != 2 || !std::all_of(exit_region.begin(), exit_region.end(),
                                                                         [](char c) { return c >= 'A' && c <= 'Z'; })))
        return util::unexpected(RouteError::bad_region);
    if (!exit_region.empty()) {
        const auto regions = exit_regions();
        if (std::find(regions.begin(), regions.end(), exit_region) == regions.end())
            return util::unexpected(RouteError::no_exit_in_region);
    }
    if (hops == m_options.hops && exit_region == m_options.exit_region) return {};
    spdlog::info("[proxy] route: {} hops, exit region {}", hops, exit_region.empty() ? "any" : exit_region);
    m_options.hops = hops;
    m_options.exit_region = std::move(exit_region);
    // Circuits of the old route leave the pool; an open stream keeps its own
    // circuit alive until it ends (as when a circuit ages out).
    for (auto& c : m_pool) c->retired = true;
    for (auto& [k, c] : m_isolated) c->retired = true;
    m_pool.clear();
    m_isolated.clear();
    m_tick.cancel();  // the maintain loop builds the new pool now
    m_pool_changed.notify();
    return {};
}

json::value Client::wallet_status() const {
    if (!m_options.wallet) return nullptr;
    const WalletOptions& w = *m_options.wallet;
    std::uint64_t unpaid = 0;
    std::map<std::uint64_t, std::uint64_t> bytes_by_epoch;
    for (const auto& [k, u] : m_usage) {
        unpaid += u.carried - u.receipted;
        bytes_by_epoch[k.epoch] += u.receipted;
    }
    json::array spend;
    for (const auto& [epoch, bytes] : bytes_by_epoch)
        spend.push_back(json::object{
            {"epoch", epoch}, {"bytes", bytes}, {"cost", ledger::usage_cost(bytes, w.price_per_mib).value_or(0)}});
    return json::object{
        {"address", w.key->address().to_string()},
        {"epoch", m_epoch ? json::value(*m_epoch) : json::value(nullptr)},
        {"prepaid", m_prepaid ? json::value(*m_prepaid) : json::value(nullptr)},
        {"unpaid_bytes", unpaid},
        {"price_per_mib", w.price_per_mib},
        {"spend", std::move(spend)},
        {"refused", m_refused ? json::value(std::string(net::describe(*m_refused))) : json::value(nullptr)}};
}

void Client::note_refusal(EndReason reason) {
    if (m_refused != reason)
        spdlog::warn("[proxy] an exit refused service: {}{}", net::describe(reason),
                     m_options.wallet ? "" : " (this proxy has no wallet: pass --wallet-keystore)");
    m_refused = reason;
}

json::value Client::status() const {
    json::array circuits;
    std::uint64_t sent = m_closed_bytes_sent, received = m_closed_bytes_received;
    std::size_t streams = 0;
    auto add = [&](const std::shared_ptr<ClientCircuit>& c) {
        json::array path;
        for (const auto& n : c->path) path.push_back(json::value(describe_node(n)));
        const char* state = c->state == ClientCircuit::State::ready      ? "ready"
                            : c->state == ClientCircuit::State::building ? "building"
                                                                         : "dead";
        json::array regions;
        for (const auto& n : c->path) regions.push_back(json::value(n.region));
        circuits.push_back(json::object{{"path", std::move(path)},
                                        {"regions", std::move(regions)},
                                        {"state", state},
                                        {"isolated", !c->isolation.empty()},
                                        {"streams", c->stream_count()},
                                        {"streams_opened", c->streams_opened},
                                        {"bytes_sent", c->bytes_sent},
                                        {"bytes_received", c->bytes_received}});
        if (c->state == ClientCircuit::State::dead) return;  // counted when it died
        sent += c->bytes_sent;
        received += c->bytes_received;
        streams += c->stream_count();
    };
    for (auto& c : m_pool) add(c);
    for (auto& [k, c] : m_isolated) add(c);
    json::array guards;
    for (const auto& k : m_guards.guards())
        if (const auto* r = m_directory.find(k)) guards.push_back(json::value(describe_node(*r)));
    json::object rtts;
    for (const auto& r : m_directory.records())
        if (auto it = m_entry_rtt.find(r.noise_key); it != m_entry_rtt.end())
            rtts[describe_node(r)] = std::round(it->second.ms * 1000) / 1000;
    return json::object{{"circuits", std::move(circuits)},
                        {"streams", streams},
                        {"streams_opened", m_streams_opened},
                        {"circuits_built", m_circuits_built},
                        {"circuits_failed", m_circuits_failed},
                        {"bytes_sent", sent},
                        {"bytes_received", received},
                        {"relays_known", m_directory.records().size()},
                        {"entry_rtt_ms", std::move(rtts)},
                        {"hops", m_options.hops},
                        {"exit_region", m_options.exit_region},
                        {"exit_regions", json::value_from(exit_regions())},
                        {"relays_refused", m_relays_refused},
                        {"entry_guards", std::move(guards)},
                        {"wallet", wallet_status()}};
}

}  // namespace conet::proxy
