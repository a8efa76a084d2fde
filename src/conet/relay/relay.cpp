#include "conet/relay/relay.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include "conet/net/circuit_handshake.hpp"

namespace conet::relay {

namespace noise = crypto::noise;
using net::CellCommand;
using net::EndReason;
using net::RelayCommand;

// ---- metrics --------------------------------------------------------------------------

namespace {
prometheus::Family<prometheus::Counter>& cell_bytes_family(prometheus::Registry& r) {
    return prometheus::BuildCounter()
        .Name("conet_relay_cell_bytes_total")
        .Help("Cell bytes handled, by direction")
        .Register(r);
}
/// Every reason the relay refuses something, exported from the start at 0.
constexpr const char* k_reject_reasons[] = {
    "max_links",         "links_per_ip",      "handshakes_in_flight",  "peer_not_allowed",    "link_handshake",
    "malformed_cell",    "unexpected_cell",   "duplicate_circuit",     "circuits_per_link",   "bad_create",
    "circuit_handshake", "bad_extend",        "extend_unknown_relay",  "extend_connect",      "onion_auth",
    "malformed_relay",   "relay_without_hop", "not_an_exit",           "streams_per_circuit", "bad_target",
    "flow_control",      "exit_policy",       "resolve_failed",        "resolve_timeout",     "connect_failed",
    "links_per_prefix",  "handshakes_per_ip", "handshakes_per_prefix", "penalized_source",    "handshake_pressure",
    "create_rate",       "bad_creates",       "circuit_queue",         "exit_streams",        "dns_queue",
    "accept_no_fds",     "extend_refused",    "handshake_rate"};
}  // namespace

RelayMetrics::RelayMetrics(prometheus::Registry& r)
    : links(prometheus::BuildGauge().Name("conet_relay_links").Help("Open links").Register(r).Add({})),
      circuits(prometheus::BuildGauge().Name("conet_relay_circuits").Help("Open circuits").Register(r).Add({})),
      streams(prometheus::BuildGauge().Name("conet_relay_streams").Help("Open exit streams").Register(r).Add({})),
      queued_bytes(prometheus::BuildGauge()
                       .Name("conet_relay_queued_bytes")
                       .Help("Memory held in link send queues (counted as allocated)")
                       .Register(r)
                       .Add({})),
      budget_reclaimed_links(prometheus::BuildGauge()
                                 .Name("conet_relay_budget_reclaimed_links")
                                 .Help("Links closed because the process memory budget was exhausted")
                                 .Register(r)
                                 .Add({})),
      bytes_in(cell_bytes_family(r).Add({{"direction", "in"}})),
      bytes_out(cell_bytes_family(r).Add({{"direction", "out"}})),
      rejects(prometheus::BuildCounter().Name("conet_relay_rejects_total").Help("Refusals by reason").Register(r)) {
    for (const char* reason : k_reject_reasons) rejects.Add({{"reason", reason}});
}

// ---- state -----------------------------------------------------------------------------

namespace {
TimeMs now_ms() {
    return static_cast<TimeMs>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}
}  // namespace

struct RelayServer::LinkState {
    LinkId id = 0;
    std::shared_ptr<net::Link> link;
    std::string ip;
    std::string prefix;
    bool outbound = false;
};

/// A circuit whose last hop is this relay, once a message for the exit
/// arrived: the exit streams' end of the stream protocol. The circuit itself
/// (links, ids, our onion layer) lives in the circuit table.
struct RelayServer::ExitCircuit final : net::CircuitEnd {
    ExitCircuit(RelayServer& s, CircuitKey k) : net::CircuitEnd(s.m_io.get_executor()), server(s), key(k) {}

    std::size_t relay_headroom() const override { return CircuitTable::headroom; }

    void send_relay_buffer(util::Bytes buf) override {
        if (dead) return;
        TableActions out;
        server.m_table.send_from_exit(key, std::move(buf), out);
        server.apply(out);
    }

    void fail(EndReason reason) override { server.destroy_circuit(key, reason); }

    /// The user's link and this circuit's queue on it.
    std::pair<net::Link*, std::uint32_t> up_link() const {
        const auto up = server.m_table.up_of(key);
        if (!up) return {nullptr, 0};
        auto it = server.m_links.find(up->first);
        if (it == server.m_links.end() || !it->second->link->is_open()) return {nullptr, 0};
        return {it->second->link.get(), up->second};
    }

    /// Exit streams stop reading their destinations while the user's link
    /// holds half of this circuit's budget (a trickling destination or a slow
    /// user is slowed down; only a peer that does not read at all hits the cap).
    bool congested() const override {
        const auto [link, id] = up_link();
        if (!link) return false;
        // (Called for every read of an exit stream: the clock is read only when usage is metered.)
        if (server.m_meter.enabled() &&
            server.m_meter.free_tier_wait(key, std::chrono::steady_clock::now()) > std::chrono::seconds(0))
            return true;
        const auto& l = server.m_link_limits;
        return link->circuit_queued_bytes(id) > l.max_circuit_queued_bytes / 2 ||
               link->queued_bytes() > l.max_queued_bytes / 2;
    }
    awaitable<void> wait_uncongested() override {
        // A free-tier circuit over its rate waits for its bucket to refill.
        if (auto wait = server.m_meter.enabled() ? server.m_meter.free_tier_wait(key, std::chrono::steady_clock::now())
                                                 : std::chrono::steady_clock::duration::zero();
            wait > std::chrono::seconds(0)) {
            asio::steady_timer t(server.m_io, wait);
            co_await t.async_wait(net::use_nothrow);
            co_return;
        }
        std::shared_ptr<net::Link> link;
        if (const auto up = server.m_table.up_of(key))
            if (auto it = server.m_links.find(up->first); it != server.m_links.end()) link = it->second->link;
        if (link && link->is_open()) co_await link->wait_drained();
    }

    /// Paid usage: a payer past its credit or balance loses its streams
    /// (after this call returns: the caller is inside a stream's dispatch).
    void on_payload(std::size_t n) override {
        if (!server.m_meter.enabled()) return;
        const auto verdict = server.m_meter.on_bytes(key, n, std::chrono::steady_clock::now());
        if (verdict == MeterVerdict::ok || cutting_off) return;
        cutting_off = true;
        const auto reason =
            verdict == MeterVerdict::balance_exhausted ? EndReason::balance_exhausted : EndReason::payment_required;
        server.m_metrics.reject(reason == EndReason::balance_exhausted ? "balance_exhausted" : "payment_required");
        asio::post(server.m_io, [self = std::static_pointer_cast<ExitCircuit>(shared_from_this()), reason] {
            self->cutting_off = false;
            if (!self->dead) self->reset_all_streams(reason);
        });
    }

    void streams_changed(std::ptrdiff_t delta) override {
        CONET_ASSERT(delta >= 0 || server.m_exit_streams >= static_cast<std::size_t>(-delta));
        server.m_exit_streams = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(server.m_exit_streams) + delta);
    }

    RelayServer& server;
    CircuitKey key;  ///< in the circuit table and the usage meter
    bool dead = false;
    bool cutting_off = false;
    ExitOpenings openings;  ///< streams resolving or connecting, and those the user cancelled meanwhile
};

// ---- lifecycle --------------------------------------------------------------------------

RelayServer::RelayServer(asio::io_context& io, RelayConfig config, const ledger::Directory& directory, util::Rng& rng,
                         RelayMetrics& metrics)
    : m_io(io),
      m_config(std::move(config)),
      m_directory(directory),
      m_rng(rng),
      m_metrics(metrics),
      m_table(m_config.static_key.clone(), m_config.limits, directory),
      m_budget(std::make_shared<net::MemoryBudget>(m_config.limits.memory_budget_bytes)),
      m_link_limits(net::LinkLimits::from(m_config.limits)),
      m_resolver(io.get_executor(), ResolverLimits{m_config.limits.dns_workers, m_config.limits.max_dns_queue,
                                                   static_cast<std::uint32_t>(m_config.limits.dns_timeout_ms)}),
      m_meter(m_config.meter) {
    CONET_ASSERT(!m_config.limits.check());
}

std::string source_prefix(const boost::asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return source_prefix(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()));
    if (a.is_v4()) {
        auto b = a.to_v4().to_bytes();
        return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + ".0/24";
    }
    auto b = a.to_v6().to_bytes();
    std::fill(b.begin() + 6, b.end(), 0);
    return boost::asio::ip::address_v6(b).to_string() + "/48";
}

RelayServer::~RelayServer() {
    stop();
}

namespace {
/// Lets the process hold `sockets` descriptors plus some for files and logs,
/// as far as the hard limit allows; returns how many sockets it may use.
std::uint64_t raise_descriptor_limit(std::uint64_t sockets) {
    constexpr std::uint64_t reserve = 256;
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return sockets;
    if (rl.rlim_cur < sockets + reserve) {
        rl.rlim_cur = std::min<rlim_t>(sockets + reserve, rl.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    // Under a small hard limit keep a quarter for files, logs and the RPC port.
    const std::uint64_t keep = std::min<std::uint64_t>(reserve, rl.rlim_cur / 4);
    return std::max<std::uint64_t>(1, std::min<std::uint64_t>(sockets, rl.rlim_cur - keep));
}

std::vector<address> interface_addresses() {
    std::vector<address> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return out;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr) continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
            out.push_back(boost::asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)));
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
            boost::asio::ip::address_v6::bytes_type b;
            std::copy(std::begin(sin6->sin6_addr.s6_addr), std::end(sin6->sin6_addr.s6_addr), b.begin());
            out.push_back(boost::asio::ip::address_v6(b));
        }
    }
    ::freeifaddrs(list);
    return out;
}
}  // namespace

util::Result<std::vector<tcp::endpoint>, net::ListenFailure> RelayServer::start() {
    std::vector<tcp::endpoint> bound;
    for (const auto& ep : m_config.listen) {
        auto listener = net::Listener::open(m_io.get_executor(), ep, {.backoff_ms = m_config.limits.accept_backoff_ms});
        if (!listener) return util::unexpected(listener.error());
        bound.push_back((*listener)->local_endpoint());
        m_listeners.push_back(std::move(*listener));
    }
    for (const auto& a : interface_addresses()) m_config.exit_policy.own_addresses.push_back(a);
    for (const auto& ep : bound) m_config.exit_policy.own_addresses.push_back(ep.address());
    for (const auto& ep : m_config.advertised) m_config.exit_policy.own_addresses.push_back(ep.address());
    m_bound = bound;
    m_socket_cap = raise_descriptor_limit(m_config.limits.max_open_sockets - m_config.limits.rpc_max_connections);
    for (auto& listener : m_listeners)
        listener->start([this](tcp::socket s) { on_accept(std::move(s)); },
                        [this](const boost::system::error_code&) { m_metrics.reject("accept_no_fds"); });
    return bound;
}

void RelayServer::stop() {
    if (m_stopped) return;
    m_stopped = true;
    for (auto& l : m_listeners) l->close();
    std::vector<std::shared_ptr<net::Link>> links;
    for (auto& [id, ls] : m_links) links.push_back(ls->link);
    for (auto& l : links) l->close("relay shutting down");
}

void RelayServer::update_gauges() {
    // Counters kept as things happen: nothing here walks links or circuits.
    m_metrics.links.Set(static_cast<double>(m_links.size()));
    m_metrics.circuits.Set(static_cast<double>(m_table.circuits()));
    m_metrics.streams.Set(static_cast<double>(m_exit_streams));
    m_metrics.queued_bytes.Set(static_cast<double>(m_budget->used()));
    m_metrics.budget_reclaimed_links.Set(static_cast<double>(m_budget->links_reclaimed()));
}

// ---- links -------------------------------------------------------------------------------

void RelayServer::on_accept(tcp::socket accepted) {
    const auto& lim = m_config.limits;
    boost::system::error_code rec;
    const auto remote = accepted.remote_endpoint(rec);
    if (rec) return;
    const auto now = Clock::now();
    relieve_handshake_pressure(now);
    const std::string ip = remote.address().to_string();
    const std::string prefix = source_prefix(remote.address());
    if (const char* why = refuse_source(ip, prefix, now)) {
        m_metrics.reject(why);
        return;  // the socket closes as it goes out of scope
    }
    if (m_handshakes >= lim.max_handshakes_in_flight && !evict_oldest_handshake()) {
        m_metrics.reject("handshakes_in_flight");
        return;
    }
    auto socket = std::make_shared<tcp::socket>(std::move(accepted));
    asio::co_spawn(m_io, handshake(std::move(socket), ip, prefix), asio::detached);
}

RelayServer::PrefixRates& RelayServer::rates_for(const std::string& prefix, Clock::time_point now) {
    constexpr std::size_t max_tracked_prefixes = 65'536;
    if (m_prefix_rates.size() >= max_tracked_prefixes && !m_prefix_rates.count(prefix)) {
        // A minute unused and every bucket would be full again: forgetting it changes nothing.
        std::erase_if(m_prefix_rates,
                      [&](const auto& e) { return now - e.second.last_used > std::chrono::minutes(1); });
        if (m_prefix_rates.size() >= max_tracked_prefixes) m_prefix_rates.erase(m_prefix_rates.begin());
    }
    auto& r = m_prefix_rates[prefix];
    r.last_used = now;
    return r;
}

const char* RelayServer::refuse_source(const std::string& ip, const std::string& prefix, Clock::time_point now) {
    const auto& lim = m_config.limits;
    if (auto it = m_penalized.find(ip); it != m_penalized.end()) {
        if (now < it->second) return "penalized_source";
        m_penalized.erase(it);
    }
    if (m_links.size() + m_handshakes >= lim.max_links ||
        m_links.size() + m_handshakes + m_exit_streams + m_exit_pending >= m_socket_cap)
        return "max_links";
    const auto ip_it = m_by_ip.find(ip);
    const auto pf_it = m_by_prefix.find(prefix);
    const SourceCount by_ip = ip_it == m_by_ip.end() ? SourceCount{} : ip_it->second;
    const SourceCount by_prefix = pf_it == m_by_prefix.end() ? SourceCount{} : pf_it->second;
    if (by_ip.links + by_ip.handshakes >= lim.max_links_per_ip) return "links_per_ip";
    if (by_prefix.links + by_prefix.handshakes >= lim.max_links_per_prefix) return "links_per_prefix";
    if (by_ip.handshakes >= lim.max_handshakes_per_ip) return "handshakes_per_ip";
    if (by_prefix.handshakes >= lim.max_handshakes_per_prefix) return "handshakes_per_prefix";
    const double rate = static_cast<double>(lim.handshakes_per_second_per_prefix);
    if (!rates_for(prefix, now).handshakes.take(rate, 2 * rate, now_ms())) return "handshake_rate";
    return nullptr;
}

bool RelayServer::evict_oldest_handshake() {
    // Every slot is taken: the oldest unfinished handshake makes room. An
    // honest peer finishes in a round trip, so the oldest is almost always a
    // connection that sends nothing; evicting it beats refusing everyone new.
    // Evicted handshakes end asynchronously, so at most twice the limit are open.
    if (m_handshakes >= 2 * m_config.limits.max_handshakes_in_flight) return false;
    while (!m_pending.empty()) {
        auto s = m_pending.front().socket.lock();
        m_pending.pop_front();
        if (s && s->is_open()) {
            boost::system::error_code ignored;
            s->close(ignored);
            m_metrics.reject("handshake_pressure");
            return true;
        }
    }
    return false;
}

void RelayServer::relieve_handshake_pressure(Clock::time_point now) {
    const auto& lim = m_config.limits;
    if (m_handshakes * 2 <= lim.max_handshakes_in_flight) return;
    const auto limit = std::chrono::milliseconds(lim.handshake_timeout_under_pressure_ms);
    // m_pending is in start order: the oldest are at the front.
    while (!m_pending.empty() && now - m_pending.front().started > limit) {
        if (auto s = m_pending.front().socket.lock()) {
            boost::system::error_code ignored;
            s->close(ignored);  // the handshake fails and cleans up after itself
            m_metrics.reject("handshake_pressure");
        }
        m_pending.pop_front();
    }
}

void RelayServer::release_source(const std::string& ip, const std::string& prefix, bool link, bool handshake) {
    for (auto* map : {&m_by_ip, &m_by_prefix}) {
        auto it = map->find(map == &m_by_ip ? ip : prefix);
        CONET_ASSERT(it != map->end());
        if (link) {
            CONET_ASSERT(it->second.links > 0);
            --it->second.links;
        }
        if (handshake) {
            CONET_ASSERT(it->second.handshakes > 0);
            --it->second.handshakes;
        }
        if (it->second.links == 0 && it->second.handshakes == 0) {
            map->erase(it);
        }
    }
}

awaitable<void> RelayServer::handshake(std::shared_ptr<tcp::socket> socket, std::string ip, std::string prefix) {
    ++m_handshakes;
    ++m_by_ip[ip].handshakes;
    ++m_by_prefix[prefix].handshakes;
    const std::uint64_t pending_id = m_next_pending_id++;
    m_pending.push_back(PendingHandshake{pending_id, socket, Clock::now()});
    auto allow = [this](net::LinkKind kind, const std::optional<crypto::X25519Public>& key) {
        if (kind == net::LinkKind::client) return true;
        if (key && m_directory.find(*key) != nullptr) return true;
        if (m_config.on_unknown_relay) m_config.on_unknown_relay();
        return false;
    };
    auto link = co_await net::Link::accept(std::move(socket), m_config.static_key, allow, m_rng, m_link_limits);
    --m_handshakes;
    // relieve_handshake_pressure may have dropped the entry already.
    for (auto it = m_pending.begin(); it != m_pending.end(); ++it)
        if (it->id == pending_id) {
            m_pending.erase(it);
            break;
        }
    if (!link || m_stopped) {
        if (!link)
            m_metrics.reject(link.error() == net::LinkError::peer_not_allowed ? "peer_not_allowed" : "link_handshake");
        release_source(ip, prefix, false, true);
        co_return;
    }
    ++m_by_ip[ip].links;
    ++m_by_prefix[prefix].links;
    release_source(ip, prefix, false, true);
    adopt(std::move(*link), ip, prefix);
}

void RelayServer::adopt(std::shared_ptr<net::Link> link, std::string ip, std::string prefix) {
    auto ls = std::make_unique<LinkState>();
    ls->id = m_next_link++;
    ls->link = link;
    ls->ip = std::move(ip);
    ls->prefix = std::move(prefix);
    m_table.link_up(ls->id, LinkInfo{link->kind() == net::LinkKind::client, false, link->remote_static(), ls->prefix});
    start_link(std::move(ls));
}

void RelayServer::start_link(std::unique_ptr<LinkState> ls) {
    LinkState* raw = ls.get();
    auto link = ls->link;
    m_links[raw->id] = std::move(ls);
    link->start([this, raw](util::ByteView cell) { on_cell(*raw, cell); },
                [this, raw](const std::string&) { on_link_closed(raw); }, m_budget,
                [this, raw](std::uint32_t id) {
                    TableActions out;
                    m_table.on_circuit_overflow(raw->id, id, out);
                    apply(out);
                });
}

void RelayServer::on_link_closed(LinkState* ls) {
    TableActions out;
    m_table.link_down(ls->id, out);
    apply(out);
    if (!ls->outbound) release_source(ls->ip, ls->prefix, true, false);
    // Erase later: we are inside the link's close callback.
    auto it = m_links.find(ls->id);
    if (it != m_links.end()) {
        auto owned = std::move(it->second);
        m_links.erase(it);
        asio::post(m_io, [owned = std::shared_ptr<LinkState>(std::move(owned))] {});
    }
}

// ---- cells ----------------------------------------------------------------------------------

void RelayServer::on_cell(LinkState& ls, util::ByteView bytes) {
    m_metrics.bytes_in.Increment(static_cast<double>(bytes.size()));
    TableActions out;
    m_table.on_cell(ls.id, bytes, now_ms(), m_rng, out);
    apply(out);
}

void RelayServer::apply(TableActions& out) {
    for (auto& send : out.sends) {
        auto it = m_links.find(send.link);
        if (it == m_links.end() || !it->second->link->is_open()) continue;
        m_metrics.bytes_out.Increment(static_cast<double>(send.cell.size()));
        it->second->link->send(std::move(send.cell));
    }
    for (const char* why : out.rejects) m_metrics.reject(why);
    for (const auto& close : out.closes) {
        auto it = m_links.find(close.link);
        if (it == m_links.end()) continue;
        const LinkState& ls = *it->second;
        if (close.punish && !ls.outbound && m_config.limits.bad_source_penalty_ms > 0) {
            const auto now = Clock::now();
            // Bounded: an attacker with many addresses must not grow the table without end.
            constexpr std::size_t max_penalized = 65'536;
            if (m_penalized.size() >= max_penalized)
                std::erase_if(m_penalized, [&](const auto& e) { return e.second <= now; });
            if (m_penalized.size() >= max_penalized) m_penalized.erase(m_penalized.begin());
            m_penalized[ls.ip] = now + std::chrono::milliseconds(m_config.limits.bad_source_penalty_ms);
        }
        auto link = ls.link;  // the close callback erases the link state
        link->close(close.why);
    }
    for (auto& dial : out.dials) asio::co_spawn(m_io, extend_to(dial.circuit, std::move(dial.node)), asio::detached);
    for (auto& msg : out.exit_messages) {
        if (!m_table.alive(msg.circuit)) continue;
        auto& slot = m_exits[msg.circuit];
        if (!slot) slot = std::make_shared<ExitCircuit>(*this, msg.circuit);
        // A strong reference: handling the message may destroy the circuit and erase the slot.
        const std::shared_ptr<ExitCircuit> exit = slot;
        handle_exit_message(exit, msg.view);
    }
    for (const auto& closed : out.closed) {
        if (auto it = m_exits.find(closed.circuit); it != m_exits.end()) {
            auto exit = std::move(it->second);
            m_exits.erase(it);
            exit->dead = true;
            exit->close_all_streams(closed.reason);
        }
        m_meter.circuit_closed(closed.circuit);
    }
    if (out.unknown_relay && m_config.on_unknown_relay) m_config.on_unknown_relay();
}

void RelayServer::destroy_circuit(CircuitKey key, EndReason reason) {
    TableActions out;
    m_table.destroy(key, reason, out);
    apply(out);
}

awaitable<void> RelayServer::extend_to(CircuitKey circuit, ledger::NodeRecord node) {
    const crypto::X25519Public key = node.noise_key;
    auto finish = [&](std::optional<LinkId> link, EndReason reason) {
        TableActions out;
        if (link)
            m_table.extend_ready(circuit, *link, out);
        else
            m_table.extend_failed(circuit, reason, out);
        apply(out);
    };
    // Records name IP literals: a relay resolves no names for a circuit,
    // and never dials private addresses or itself on a user's behalf.
    std::optional<tcp::endpoint> target;
    for (const auto& ep : node.endpoints) {
        boost::system::error_code ec;
        const auto addr = boost::asio::ip::make_address(ep.host, ec);
        if (ec) continue;
        const tcp::endpoint candidate(normalize(addr), ep.port);
        if (extend_refused(candidate)) continue;
        target = candidate;
        break;
    }
    if (!target) {
        m_metrics.reject("extend_refused");
        finish(std::nullopt, EndReason::host_unreachable);
        co_return;
    }
    auto link =
        co_await net::Link::connect(m_io.get_executor(), *target, &m_config.static_key, key, m_rng, m_link_limits);
    if (!link) {
        m_metrics.reject("extend_connect");
        finish(std::nullopt, EndReason::host_unreachable);
        co_return;
    }
    if (const auto existing = m_table.outbound_link_to(key)) {
        (*link)->close("duplicate link");  // another extend connected meanwhile
        finish(existing, EndReason::misc);
        co_return;
    }
    auto state = std::make_unique<LinkState>();
    state->id = m_next_link++;
    state->link = *link;
    state->ip = target->address().to_string();
    state->outbound = true;
    const LinkId id = state->id;
    m_table.link_up(id, LinkInfo{false, true, key, {}});
    start_link(std::move(state));
    finish(id, EndReason::misc);
}

bool RelayServer::extend_refused(const tcp::endpoint& to) const {
    for (const auto& own : m_bound)
        if (normalize(own.address()) == to.address() && own.port() == to.port()) return true;
    for (const auto& own : m_config.advertised)
        if (normalize(own.address()) == to.address() && own.port() == to.port()) return true;
    if (m_config.allow_private_relays) return false;
    const ExitPolicy relays_only{{}, m_config.exit_policy.own_addresses};
    return evaluate(relays_only, to.address()) != Verdict::allow;
}

void RelayServer::handle_exit_message(const std::shared_ptr<ExitCircuit>& circ, const net::RelayView& msg) {
    auto reset = [&](EndReason reason) {
        const std::uint8_t r = static_cast<std::uint8_t>(reason);
        circ->send_relay(RelayCommand::reset, msg.stream_id, util::ByteView(&r, 1));
    };
    switch (msg.command) {
        case RelayCommand::begin: {
            ExitCapacity capacity;
            capacity.exit_enabled = m_config.exit_enabled;
            capacity.paid = m_config.exit_enabled ? m_meter.admit_stream(circ->key) : MeterVerdict::ok;
            capacity.process_full = m_exit_streams + m_exit_pending >= m_config.limits.max_exit_streams ||
                                    m_links.size() + m_handshakes + m_exit_streams + m_exit_pending >= m_socket_cap;
            auto d = circ->openings.on_begin(msg.stream_id, msg.body, capacity,
                                             circ->find_stream(msg.stream_id) != nullptr, circ->stream_count());
            switch (d.kind) {
                case BeginDecision::Kind::protocol_error: destroy_circuit(circ->key, EndReason::protocol_error); return;
                case BeginDecision::Kind::refuse:
                    m_metrics.reject(d.metric);
                    reset(d.reason);
                    return;
                case BeginDecision::Kind::open:
                    asio::co_spawn(m_io, open_exit_stream(circ, msg.stream_id, std::move(d.target)), asio::detached);
                    return;
            }
            return;
        }
        case RelayCommand::receipt: {
            if (!m_meter.enabled()) return;  // usage is free here: receipts are not needed
            if (auto r = m_meter.on_receipt(circ->key, msg.body); !r) {
                m_metrics.reject("bad_receipt");
                if (r.error() == ReceiptError::forged || r.error() == ReceiptError::malformed)
                    destroy_circuit(circ->key, EndReason::protocol_error);
            }
            return;
        }
        case RelayCommand::reset:
            // The user gave up waiting for CONNECTED: cancel the connect in flight.
            if (circ->openings.on_reset(msg.stream_id)) return;
            [[fallthrough]];
        default:
            if (!circ->on_stream_message(msg)) {
                m_metrics.reject("flow_control");
                destroy_circuit(circ->key, EndReason::protocol_error);
            }
            return;
    }
}

awaitable<void> RelayServer::open_exit_stream(std::weak_ptr<ExitCircuit> weak, std::uint32_t stream_id,
                                              net::Target target) {
    auto ex = m_io.get_executor();
    ++m_exit_pending;
    struct PendingDone {
        std::size_t& pending;
        ~PendingDone() {
            CONET_ASSERT(pending > 0);
            --pending;
        }
    } pending_done{m_exit_pending};
    auto finish_with = [&](EndReason reason) {
        auto c = weak.lock();
        if (!c || c->dead) return;
        // Every BEGIN gets one answer, cancelled or not.
        const std::uint8_t r = static_cast<std::uint8_t>(c->openings.on_open_result(stream_id, reason).reset);
        c->send_relay(RelayCommand::reset, stream_id, util::ByteView(&r, 1));
    };

    std::vector<tcp::endpoint> candidates;
    boost::system::error_code ec;
    const auto literal = boost::asio::ip::make_address(target.host, ec);
    if (!ec) {
        candidates.emplace_back(literal, target.port);
    } else {
        // The pool answers by its deadline even when the system resolver hangs.
        auto resolved = co_await m_resolver.resolve(target.host, target.port);
        if (!resolved) {
            switch (resolved.error()) {
                case ResolveError::timeout:
                    m_metrics.reject("resolve_timeout");
                    finish_with(EndReason::timeout);
                    break;
                case ResolveError::queue_full:
                    m_metrics.reject("dns_queue");
                    finish_with(EndReason::resource_limit);
                    break;
                case ResolveError::not_found:
                case ResolveError::stopped:
                    m_metrics.reject("resolve_failed");
                    finish_with(EndReason::resolve_failed);
                    break;
            }
            co_return;
        }
        candidates = std::move(*resolved);
    }
    std::vector<tcp::endpoint> allowed;
    for (const auto& c : candidates)
        if (evaluate(m_config.exit_policy, c.address()) == Verdict::allow) allowed.push_back(c);
    if (allowed.empty()) {
        m_metrics.reject("exit_policy");
        finish_with(EndReason::exit_policy);
        co_return;
    }

    auto socket = co_await net::dial(ex, allowed, m_config.limits.exit_connect_timeout_ms);
    if (!socket) {
        m_metrics.reject("connect_failed");
        finish_with(socket.error() == net::DialError::timeout   ? EndReason::timeout
                    : socket.error() == net::DialError::refused ? EndReason::connection_refused
                                                                : EndReason::host_unreachable);
        co_return;
    }
    auto circ = weak.lock();
    if (!circ || circ->dead) co_return;
    if (const auto answer = circ->openings.on_open_result(stream_id, std::nullopt); !answer.connected) {
        // The user gave up meanwhile: the socket closes here and RESET is the BEGIN's one answer.
        const std::uint8_t r = static_cast<std::uint8_t>(answer.reset);
        circ->send_relay(RelayCommand::reset, stream_id, util::ByteView(&r, 1));
        co_return;
    }
    auto stream = std::make_shared<net::SocketStream>(std::move(*socket), stream_id, circ);
    circ->add_stream(stream);
    circ->send_relay(RelayCommand::connected, stream_id, {});
    stream->start();
}

}  // namespace conet::relay
