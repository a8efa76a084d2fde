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

class ClientCircuit final : public net::CircuitEnd {
public:
    enum class State { building, ready, dead };

    ClientCircuit(Client& client, std::string isolation_key)
        : net::CircuitEnd(client.io().get_executor()),
          m_client(client),
          isolation(std::move(isolation_key)),
          event(client.io().get_executor()),
          created_at(Clock::now()) {}

    std::size_t relay_headroom() const override { return net::cell_header_bytes; }

    /// Seals for the last hop, then every hop before it, in place, and sends.
    void send_relay_buffer(util::Bytes buf) override { seal_and_send(hops.size() - 1, std::move(buf)); }

    /// A relay message for an earlier hop (EXTEND to the middle).
    void send_to_hop(std::size_t hop, RelayCommand command, std::uint32_t stream_id, util::ByteView body) {
        util::Bytes buf(net::cell_header_bytes + net::relay_header_bytes);
        net::put_relay_header(buf.data() + net::cell_header_bytes, command, stream_id);
        util::append(buf, body);
        seal_and_send(hop, std::move(buf));
    }

    void seal_and_send(std::size_t hop, util::Bytes buf) {
        if (state == State::dead || !entry || hop >= hops.size()) return;
        for (std::size_t i = hop + 1; i-- > 0;) {
            if (!hops[i].encrypt_in_place(buf, net::cell_header_bytes)) {
                fail(EndReason::resource_limit);
                return;
            }
        }
        net::put_cell_header(buf.data(), circuit_id, CellCommand::relay);
        if (entry->link->is_open()) entry->link->send(std::move(buf));
    }

    void fail(EndReason reason) override { die(reason, false, true); }

    void on_payload(std::size_t n) override { m_client.on_payload(*this, n); }

    void die(EndReason reason, bool link_failed, bool send_destroy) {
        if (state == State::dead) return;
        const bool was_ready = state == State::ready;
        state = State::dead;
        if (send_destroy && entry && entry->link->is_open()) {
            const std::uint8_t r = static_cast<std::uint8_t>(reason);
            entry->link->send(net::encode_cell(circuit_id, CellCommand::destroy, util::ByteView(&r, 1)));
        }
        if (entry) entry->circuits.erase(circuit_id);
        for (auto& [id, p] : pending) p.done = true;
        close_all_streams(reason);
        event.notify();
        death_reason = reason;
        death_link_failed = link_failed;
        static_cast<void>(was_ready);
        m_client.circuit_died(*this, reason, link_failed);
    }

    void on_cell(const net::CellView& cell) {
        switch (cell.command) {
            case CellCommand::created:
            case CellCommand::extended:
                reply = util::Bytes(cell.body.begin(), cell.body.end());
                event.notify();
                return;
            case CellCommand::destroy: die(EndReason::destroyed, false, false); return;
            case CellCommand::relay: on_relay(cell.body); return;
            default: die(EndReason::protocol_error, false, true); return;
        }
    }

    /// Removes layers in path order, in place, until a hop's own message appears.
    void on_relay(util::ByteView sealed) {
        util::Bytes buf(sealed.begin(), sealed.end());
        std::size_t offset = 0, len = buf.size();
        for (std::size_t i = 0; i < hops.size(); ++i) {
            auto n = hops[i].decrypt_to(util::ByteView(buf.data() + offset, len), buf.data() + offset);
            if (!n || *n == 0) break;
            const std::uint8_t marker = buf[offset];
            offset += 1;
            len = *n - 1;
            if (marker == 0x01) continue;
            if (marker != 0x00) break;
            auto msg = net::parse_relay(util::ByteView(buf.data() + offset, len));
            if (!msg) break;
            on_message(i, *msg);
            return;
        }
        die(EndReason::protocol_error, false, true);
    }

    void on_message(std::size_t hop, const net::RelayView& msg) {
        if (msg.command == RelayCommand::extended) {
            if (state != State::building || hop + 1 != hops.size()) {
                die(EndReason::protocol_error, false, true);
                return;
            }
            reply = util::Bytes(msg.body.begin(), msg.body.end());
            event.notify();
            return;
        }
        if (hop + 1 != hops.size() || state != State::ready) {
            die(EndReason::protocol_error, false, true);
            return;
        }
        if (msg.command == RelayCommand::reset && msg.body.size() == 1 &&
            (msg.body[0] == static_cast<std::uint8_t>(EndReason::payment_required) ||
             msg.body[0] == static_cast<std::uint8_t>(EndReason::balance_exhausted)))
            m_client.note_refusal(static_cast<EndReason>(msg.body[0]));
        if (msg.command == RelayCommand::connected || msg.command == RelayCommand::reset) {
            auto it = pending.find(msg.stream_id);
            if (it != pending.end()) {
                it->second.done = true;
                it->second.ok = msg.command == RelayCommand::connected;
                if (!it->second.ok && msg.body.size() == 1) it->second.reason = static_cast<EndReason>(msg.body[0]);
                if (!it->second.ok) remove_stream(msg.stream_id);
                event.notify();
                return;
            }
            if (msg.command == RelayCommand::connected) {
                die(EndReason::protocol_error, false, true);
                return;
            }
        }
        if (!on_stream_message(msg)) die(EndReason::protocol_error, false, true);
    }

    struct Pending {
        bool done = false;
        bool ok = false;
        EndReason reason = EndReason::misc;
    };

    Client& m_client;
    std::string isolation;
    State state = State::building;
    std::vector<ledger::NodeRecord> path;  ///< copies: the directory may be replaced
    std::shared_ptr<EntryLink> entry;
    std::uint32_t circuit_id = 0;
    std::vector<noise::Transport> hops;  ///< sessions with path[1..]
    std::optional<util::Bytes> reply;    ///< CREATED / EXTENDED body while building
    net::Signal event;
    std::map<std::uint32_t, Pending> pending;
    std::uint32_t next_stream = 1;
    std::uint64_t streams_opened = 0;
    Clock::time_point created_at;
    bool retired = false;  ///< closed by us, not failed: no relay is to blame
    EndReason death_reason = EndReason::done;
    bool death_link_failed = false;
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
    const auto deadline = Clock::now() + std::chrono::milliseconds(m_options.build_timeout_ms);
    asio::steady_timer timer(m_io);
    timer.expires_at(deadline);
    std::weak_ptr<ClientCircuit> weak = circ;
    timer.async_wait([weak](boost::system::error_code ec) {
        if (ec) return;
        if (auto c = weak.lock()) c->event.notify();
    });
    auto wait_reply = [&]() -> awaitable<bool> {
        while (!circ->reply && circ->state == ClientCircuit::State::building && Clock::now() < deadline)
            co_await circ->event.wait();
        co_return circ->reply.has_value() && circ->state == ClientCircuit::State::building;
    };
    auto fail = [&](const ledger::NodeRecord& blame, const std::string& why) {
        ++m_circuits_failed;
        mark_failed(blame, why);
        circ->die(EndReason::misc, false, true);
    };

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
    circ->entry = el;
    circ->circuit_id = id;
    el->circuits[id] = circ;
    const auto create_sent = Clock::now();
    el->link->send(net::encode_cell(id, CellCommand::create, {}));
    if (!co_await wait_reply()) {
        fail(circ->path.front(), "no CREATED");
        co_return;
    }
    note_entry_rtt(circ->path.front().noise_key, Clock::now() - create_sent);
    circ->reply.reset();

    for (std::size_t k = 1; k < circ->path.size(); ++k) {
        auto start = net::start_circuit_handshake(circ->path[k].noise_key, m_rng);
        if (!start) {
            fail(circ->path[k], "handshake setup");
            co_return;
        }
        const util::Bytes ext = net::encode_extend({circ->path[k].noise_key, start->message});
        if (k == 1)
            el->link->send(net::encode_cell(id, CellCommand::extend, ext));
        else
            circ->send_to_hop(k - 2, RelayCommand::extend, 0, ext);
        if (!co_await wait_reply()) {
            fail(circ->path[k], "extend failed");
            co_return;
        }
        auto t = net::finish_circuit_handshake(std::move(start->state), *circ->reply);
        circ->reply.reset();
        if (!t) {
            fail(circ->path[k], "hop authentication failed");
            co_return;
        }
        circ->hops.push_back(std::move(*t));
    }
    timer.cancel();
    circ->state = ClientCircuit::State::ready;
    circuit_ready(*circ);
    ++m_circuits_built;
    m_pool_changed.notify();
}

void Client::circuit_died(ClientCircuit& c, EndReason, bool link_failed) {
    m_closed_bytes_sent += c.bytes_sent;
    m_closed_bytes_received += c.bytes_received;
    if (!c.retired && !c.path.empty() && c.hops.size() + 1 == c.path.size()) {
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
    const std::uint32_t id = circ->next_stream++;
    auto stream = std::make_shared<net::SocketStream>(std::move(socket), id, circ);
    circ->add_stream(stream);
    circ->pending[id] = {};
    ++circ->streams_opened;
    ++m_streams_opened;
    circ->send_relay(RelayCommand::begin, id, net::encode_target(target));

    asio::steady_timer timer(m_io);
    timer.expires_after(std::chrono::milliseconds(m_options.stream_timeout_ms));
    // The flag is owned by the handler and this coroutine together: when the
    // timer fires in the same turn as CONNECTED, its handler may run after
    // this coroutine has returned (cancel() cannot recall a queued handler).
    auto timed_out = std::make_shared<bool>(false);
    std::weak_ptr<ClientCircuit> weak = circ;
    timer.async_wait([weak, timed_out](boost::system::error_code ec) {
        if (ec) return;
        *timed_out = true;
        if (auto c = weak.lock()) c->event.notify();
    });
    while (!circ->pending[id].done && !*timed_out && circ->state == ClientCircuit::State::ready)
        co_await circ->event.wait();
    timer.cancel();
    const auto result = circ->pending[id];
    circ->pending.erase(id);
    if (result.done && result.ok && circ->state == ClientCircuit::State::ready) co_return StreamOpen{stream, true, {}};
    if (!result.done && circ->state == ClientCircuit::State::ready) {
        const std::uint8_t r = static_cast<std::uint8_t>(EndReason::timeout);
        circ->send_relay(RelayCommand::reset, id, util::ByteView(&r, 1));
    }
    circ->remove_stream(id);
    const EndReason reason = result.done ? result.reason : *timed_out ? EndReason::timeout : EndReason::destroyed;
    co_return StreamOpen{stream, false, reason};
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
        circuits.push_back(json::object{{"path", std::move(path)},
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
                        {"relays_refused", m_relays_refused},
                        {"entry_guards", std::move(guards)},
                        {"wallet", wallet_status()}};
}

}  // namespace conet::proxy
