#include "conet/relay/relay.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

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
    "max_links",         "links_per_ip",      "handshakes_in_flight", "peer_not_allowed",    "link_handshake",
    "malformed_cell",    "unexpected_cell",   "duplicate_circuit",    "circuits_per_link",   "bad_create",
    "circuit_handshake", "bad_extend",        "extend_unknown_relay", "extend_connect",      "onion_auth",
    "malformed_relay",   "relay_without_hop", "not_an_exit",          "streams_per_circuit", "bad_target",
    "flow_control",      "exit_policy",       "resolve_failed",       "resolve_timeout",     "connect_failed"};
}  // namespace

RelayMetrics::RelayMetrics(prometheus::Registry& r)
    : links(prometheus::BuildGauge().Name("conet_relay_links").Help("Open links").Register(r).Add({})),
      circuits(prometheus::BuildGauge().Name("conet_relay_circuits").Help("Open circuits").Register(r).Add({})),
      streams(prometheus::BuildGauge().Name("conet_relay_streams").Help("Open exit streams").Register(r).Add({})),
      bytes_in(cell_bytes_family(r).Add({{"direction", "in"}})),
      bytes_out(cell_bytes_family(r).Add({{"direction", "out"}})),
      rejects(prometheus::BuildCounter().Name("conet_relay_rejects_total").Help("Refusals by reason").Register(r)) {
    for (const char* reason : k_reject_reasons) rejects.Add({{"reason", reason}});
}

// ---- state -----------------------------------------------------------------------------

struct RelayServer::LinkState {
    std::shared_ptr<net::Link> link;
    std::string ip;
    bool outbound = false;
    std::optional<crypto::X25519Public> peer_key;
    std::map<std::uint32_t, std::shared_ptr<Circuit>> up_circuits;    ///< the peer created them
    std::map<std::uint32_t, std::shared_ptr<Circuit>> down_circuits;  ///< we created them
    std::uint32_t next_id = 1;

    void send(std::uint32_t id, CellCommand cmd, util::ByteView body) {
        if (link->is_open()) link->send(net::encode_cell(id, cmd, body));
    }
};

struct RelayServer::Circuit final : net::CircuitEnd {
    Circuit(RelayServer& s, LinkState* up_link, std::uint32_t id)
        : net::CircuitEnd(s.m_io.get_executor()), server(s), up(up_link), up_id(id) {}

    std::size_t relay_headroom() const override { return net::cell_header_bytes + 1; }

    void send_relay_buffer(util::Bytes buf) override {
        if (dead || !session || !up) return;
        buf[net::cell_header_bytes] = 0x00;  // origin marker: this hop's own message
        if (!session->encrypt_in_place(buf, net::cell_header_bytes)) {
            fail(EndReason::resource_limit);
            return;
        }
        net::put_cell_header(buf.data(), up_id, CellCommand::relay);
        server.m_metrics.bytes_out.Increment(static_cast<double>(buf.size()));
        if (up->link->is_open()) up->link->send(std::move(buf));
    }

    void fail(EndReason reason) override {
        server.destroy(std::static_pointer_cast<Circuit>(shared_from_this()), reason, nullptr);
    }

    RelayServer& server;
    LinkState* up;
    std::uint32_t up_id;
    LinkState* down = nullptr;
    std::uint32_t down_id = 0;
    std::optional<noise::Transport> session;  ///< absent on the first hop: the link is that layer
    bool extending = false;
    bool extend_reply_as_relay = false;
    bool dead = false;
    std::set<std::uint32_t> pending_streams;
};

// ---- lifecycle --------------------------------------------------------------------------

RelayServer::RelayServer(asio::io_context& io, RelayConfig config, const ledger::Directory& directory, util::Rng& rng,
                         RelayMetrics& metrics)
    : m_io(io), m_config(std::move(config)), m_directory(directory), m_rng(rng), m_metrics(metrics) {}

RelayServer::~RelayServer() {
    stop();
}

namespace {
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

util::Result<std::vector<tcp::endpoint>, std::string> RelayServer::start() {
    std::vector<tcp::endpoint> bound;
    for (const auto& ep : m_config.listen) {
        auto acceptor = std::make_unique<tcp::acceptor>(m_io);
        boost::system::error_code ec;
        acceptor->open(ep.protocol(), ec);
        if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec) acceptor->bind(ep, ec);
        if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            return util::unexpected("cannot listen on " + ep.address().to_string() + ":" + std::to_string(ep.port()) +
                                    ": " + ec.message());
        bound.push_back(acceptor->local_endpoint());
        m_acceptors.push_back(std::move(acceptor));
    }
    for (const auto& a : interface_addresses()) m_config.exit_policy.own_addresses.push_back(a);
    for (const auto& ep : bound) m_config.exit_policy.own_addresses.push_back(ep.address());
    for (auto& acceptor : m_acceptors) asio::co_spawn(m_io, accept_loop(*acceptor), asio::detached);
    return bound;
}

void RelayServer::stop() {
    if (m_stopped) return;
    m_stopped = true;
    for (auto& a : m_acceptors) {
        boost::system::error_code ec;
        a->close(ec);
    }
    std::vector<std::shared_ptr<net::Link>> links;
    for (auto& [ptr, ls] : m_links) links.push_back(ls->link);
    for (auto& l : links) l->close("relay shutting down");
}

void RelayServer::update_gauges() {
    m_metrics.links.Set(static_cast<double>(m_links.size()));
    m_metrics.circuits.Set(static_cast<double>(m_circuit_count));
    std::size_t streams = 0;
    for (auto& [ptr, ls] : m_links)
        for (auto& [id, c] : ls->up_circuits) streams += c->stream_count();
    m_metrics.streams.Set(static_cast<double>(streams));
}

// ---- links -------------------------------------------------------------------------------

awaitable<void> RelayServer::accept_loop(tcp::acceptor& acceptor) {
    while (!m_stopped) {
        auto [ec, socket] = co_await acceptor.async_accept(net::use_nothrow);
        if (ec) {
            if (m_stopped || ec == asio::error::operation_aborted) co_return;
            continue;  // e.g. EMFILE: keep serving the links we have
        }
        boost::system::error_code ignored;
        const auto remote = socket.remote_endpoint(ignored);
        const std::string ip = remote.address().to_string();
        if (m_links.size() + m_handshakes >= m_config.limits.max_links) {
            m_metrics.reject("max_links");
            continue;
        }
        if (m_links_per_ip[ip] >= m_config.limits.max_links_per_ip) {
            m_metrics.reject("links_per_ip");
            continue;
        }
        if (m_handshakes >= m_config.limits.max_handshakes_in_flight) {
            m_metrics.reject("handshakes_in_flight");
            continue;
        }
        asio::co_spawn(m_io, handshake(std::move(socket), ip), asio::detached);
    }
}

awaitable<void> RelayServer::handshake(tcp::socket socket, std::string ip) {
    ++m_handshakes;
    ++m_links_per_ip[ip];
    auto allow = [this](net::LinkKind kind, const std::optional<crypto::X25519Public>& key) {
        if (kind == net::LinkKind::client) return true;
        if (key && m_directory.find(*key) != nullptr) return true;
        if (m_config.on_unknown_relay) m_config.on_unknown_relay();
        return false;
    };
    auto link = co_await net::Link::accept(std::move(socket), m_config.static_key, allow, m_rng, m_config.link_limits);
    --m_handshakes;
    if (!link || m_stopped) {
        if (!link)
            m_metrics.reject(link.error() == net::LinkError::peer_not_allowed ? "peer_not_allowed" : "link_handshake");
        if (--m_links_per_ip[ip] == 0) m_links_per_ip.erase(ip);
        co_return;
    }
    adopt(std::move(*link), ip);
}

void RelayServer::adopt(std::shared_ptr<net::Link> link, std::string ip) {
    auto ls = std::make_unique<LinkState>();
    ls->link = link;
    ls->ip = std::move(ip);
    ls->peer_key = link->remote_static();
    LinkState* raw = ls.get();
    m_links[link.get()] = std::move(ls);
    link->start([this, raw](util::ByteView cell) { on_cell(*raw, cell); },
                [this, raw](const std::string&) { on_link_closed(raw); });
    update_gauges();
}

void RelayServer::on_link_closed(LinkState* ls) {
    auto up = ls->up_circuits;
    auto down = ls->down_circuits;
    for (auto& [id, c] : up) destroy(c, EndReason::destroyed, ls);
    for (auto& [id, c] : down) destroy(c, EndReason::destroyed, ls);
    if (!ls->outbound) {
        if (--m_links_per_ip[ls->ip] == 0) m_links_per_ip.erase(ls->ip);
    }
    // Erase later: we are inside the link's close callback.
    auto it = m_links.find(ls->link.get());
    if (it != m_links.end()) {
        auto owned = std::move(it->second);
        m_links.erase(it);
        asio::post(m_io, [owned = std::shared_ptr<LinkState>(std::move(owned))] {});
    }
    update_gauges();
}

RelayServer::LinkState* RelayServer::link_to(const crypto::X25519Public& key) {
    for (auto& [ptr, ls] : m_links)
        if (ls->outbound && ls->peer_key && *ls->peer_key == key && ls->link->is_open()) return ls.get();
    return nullptr;
}

// ---- cells ----------------------------------------------------------------------------------

void RelayServer::on_cell(LinkState& ls, util::ByteView bytes) {
    m_metrics.bytes_in.Increment(static_cast<double>(bytes.size()));
    auto cell = net::parse_cell(bytes);
    if (!cell) {
        m_metrics.reject("malformed_cell");
        ls.link->close("malformed cell");
        return;
    }
    auto find_up = [&](std::uint32_t id) -> std::shared_ptr<Circuit> {
        auto it = ls.up_circuits.find(id);
        return it == ls.up_circuits.end() ? nullptr : it->second;
    };
    auto find_down = [&](std::uint32_t id) -> std::shared_ptr<Circuit> {
        auto it = ls.down_circuits.find(id);
        return it == ls.down_circuits.end() ? nullptr : it->second;
    };
    switch (cell->command) {
        case CellCommand::create: handle_create(ls, *cell); return;
        case CellCommand::relay:
            if (auto c = find_up(cell->circuit_id)) {
                handle_relay_forward(c, cell->body);
            } else if (auto d = find_down(cell->circuit_id)) {
                handle_relay_backward(d, cell->body);
            }
            return;  // cells for circuits already gone are dropped
        case CellCommand::extend: {
            auto c = find_up(cell->circuit_id);
            auto req = net::decode_extend(cell->body);
            if (!c || c->session || c->down || c->extending || !req) {
                m_metrics.reject("bad_extend");
                if (c) destroy(c, EndReason::protocol_error, nullptr);
                return;
            }
            handle_extend(c, *req, false);
            return;
        }
        case CellCommand::created: {
            auto c = find_down(cell->circuit_id);
            if (!c || !c->extending) return;
            c->extending = false;
            if (c->extend_reply_as_relay) {
                c->send_relay(RelayCommand::extended, 0, cell->body);
            } else if (c->up) {
                c->up->send(c->up_id, CellCommand::extended, cell->body);
            }
            return;
        }
        case CellCommand::destroy: {
            if (auto c = find_up(cell->circuit_id)) destroy(c, EndReason::destroyed, &ls);
            if (auto d = find_down(cell->circuit_id)) destroy(d, EndReason::destroyed, &ls);
            return;
        }
        default:
            m_metrics.reject("unexpected_cell");
            ls.link->close("unexpected cell command");
            return;
    }
}

void RelayServer::handle_create(LinkState& ls, const net::CellView& cell) {
    const std::uint8_t limit_reason = static_cast<std::uint8_t>(EndReason::resource_limit);
    if (ls.up_circuits.count(cell.circuit_id) || cell.circuit_id == 0) {
        m_metrics.reject("duplicate_circuit");
        ls.link->close("circuit id reused");
        return;
    }
    if (ls.up_circuits.size() >= m_config.limits.max_circuits_per_link) {
        m_metrics.reject("circuits_per_link");
        ls.send(cell.circuit_id, CellCommand::destroy, util::ByteView(&limit_reason, 1));
        return;
    }
    auto circ = std::make_shared<Circuit>(*this, &ls, cell.circuit_id);
    util::Bytes reply;
    if (cell.body.empty()) {
        if (ls.link->kind() != net::LinkKind::client) {
            m_metrics.reject("bad_create");
            ls.link->close("relay links must create onion hops");
            return;
        }
    } else {
        auto hop = net::respond_circuit_handshake(m_config.static_key, cell.body, m_rng);
        if (!hop) {
            m_metrics.reject("circuit_handshake");
            const std::uint8_t reason = static_cast<std::uint8_t>(EndReason::protocol_error);
            ls.send(cell.circuit_id, CellCommand::destroy, util::ByteView(&reason, 1));
            return;
        }
        circ->session.emplace(std::move(hop->transport));
        reply = std::move(hop->reply);
    }
    ls.up_circuits[cell.circuit_id] = circ;
    ++m_circuit_count;
    ls.send(cell.circuit_id, CellCommand::created, reply);
    update_gauges();
}

void RelayServer::handle_extend(std::shared_ptr<Circuit> circ, const net::ExtendRequest& req, bool reply_as_relay) {
    const ledger::NodeRecord* node = m_directory.find(req.node_key);
    if (!node || req.node_key == m_config.static_key.public_key) {
        m_metrics.reject("extend_unknown_relay");
        if (!node && m_config.on_unknown_relay) m_config.on_unknown_relay();
        destroy(circ, EndReason::misc, nullptr);
        return;
    }
    circ->extending = true;
    circ->extend_reply_as_relay = reply_as_relay;
    asio::co_spawn(m_io, extend_to(circ, *node, req.handshake, reply_as_relay), asio::detached);
}

awaitable<void> RelayServer::extend_to(std::weak_ptr<Circuit> weak, ledger::NodeRecord node, util::Bytes handshake,
                                       bool) {
    const crypto::X25519Public key = node.noise_key;
    LinkState* ls = link_to(key);
    if (!ls) {
        std::optional<tcp::endpoint> target;
        for (const auto& ep : node.endpoints) {
            boost::system::error_code ec;
            const auto addr = boost::asio::ip::make_address(ep.host, ec);
            if (!ec) {
                target = tcp::endpoint(addr, ep.port);
                break;
            }
            tcp::resolver resolver(m_io);
            auto [rec, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), net::use_nothrow);
            if (!rec && !results.empty()) {
                target = results.begin()->endpoint();
                break;
            }
        }
        if (!target) {
            if (auto c = weak.lock()) destroy(c, EndReason::host_unreachable, nullptr);
            co_return;
        }
        auto link = co_await net::Link::connect(m_io.get_executor(), *target, &m_config.static_key, key, m_rng,
                                                m_config.link_limits);
        if (!link) {
            m_metrics.reject("extend_connect");
            if (auto c = weak.lock()) destroy(c, EndReason::host_unreachable, nullptr);
            co_return;
        }
        ls = link_to(key);  // another extend may have connected meanwhile
        if (!ls) {
            auto state = std::make_unique<LinkState>();
            state->link = *link;
            state->ip = target->address().to_string();
            state->outbound = true;
            state->peer_key = key;
            ls = state.get();
            m_links[link->get()] = std::move(state);
            (*link)->start([this, ls](util::ByteView cell) { on_cell(*ls, cell); },
                           [this, ls](const std::string&) { on_link_closed(ls); });
        } else {
            (*link)->close("duplicate link");
        }
    }
    auto circ = weak.lock();
    if (!circ || circ->dead) co_return;
    std::uint32_t id = ls->next_id;
    while (id == 0 || ls->down_circuits.count(id)) ++id;
    ls->next_id = id + 1;
    ls->down_circuits[id] = circ;
    circ->down = ls;
    circ->down_id = id;
    ls->send(id, CellCommand::create, handshake);
    update_gauges();
}

void RelayServer::handle_relay_forward(const std::shared_ptr<Circuit>& circ, util::ByteView body) {
    if (circ->session) {
        // Remove our layer straight into the cell we may forward.
        if (body.size() < crypto::noise::tag_bytes) {
            destroy(circ, EndReason::protocol_error, nullptr);
            return;
        }
        util::Bytes out(net::cell_header_bytes + body.size() - crypto::noise::tag_bytes);
        auto n = circ->session->decrypt_to(body, out.data() + net::cell_header_bytes);
        if (!n) {
            m_metrics.reject("onion_auth");
            destroy(circ, EndReason::protocol_error, nullptr);
            return;
        }
        if (circ->down) {
            net::put_cell_header(out.data(), circ->down_id, CellCommand::relay);
            m_metrics.bytes_out.Increment(static_cast<double>(out.size()));
            circ->down->link->send(std::move(out));
            return;
        }
        auto msg = net::parse_relay(util::ByteView(out).subspan(net::cell_header_bytes));
        if (!msg) {
            m_metrics.reject("malformed_relay");
            destroy(circ, EndReason::protocol_error, nullptr);
            return;
        }
        handle_exit_message(circ, *msg);
        return;
    }
    if (!circ->down) {
        m_metrics.reject("relay_without_hop");
        destroy(circ, EndReason::protocol_error, nullptr);
        return;
    }
    m_metrics.bytes_out.Increment(static_cast<double>(body.size()));
    circ->down->send(circ->down_id, CellCommand::relay, body);
}

void RelayServer::handle_relay_backward(const std::shared_ptr<Circuit>& circ, util::ByteView body) {
    if (!circ->up) return;
    if (circ->session) {
        util::Bytes out;
        out.reserve(net::cell_header_bytes + 1 + body.size() + crypto::noise::tag_bytes);
        out.resize(net::cell_header_bytes + 1);
        out.back() = 0x01;  // origin marker: a later hop's message
        util::append(out, body);
        if (!circ->session->encrypt_in_place(out, net::cell_header_bytes)) {
            destroy(circ, EndReason::resource_limit, nullptr);
            return;
        }
        net::put_cell_header(out.data(), circ->up_id, CellCommand::relay);
        m_metrics.bytes_out.Increment(static_cast<double>(out.size()));
        if (circ->up->link->is_open()) circ->up->link->send(std::move(out));
        return;
    }
    m_metrics.bytes_out.Increment(static_cast<double>(body.size()));
    circ->up->send(circ->up_id, CellCommand::relay, body);
}

void RelayServer::handle_exit_message(const std::shared_ptr<Circuit>& circ, const net::RelayView& msg) {
    auto reset = [&](EndReason reason) {
        const std::uint8_t r = static_cast<std::uint8_t>(reason);
        circ->send_relay(RelayCommand::reset, msg.stream_id, util::ByteView(&r, 1));
    };
    switch (msg.command) {
        case RelayCommand::extend: {
            auto req = net::decode_extend(msg.body);
            if (!req || circ->extending || circ->stream_count() > 0) {
                destroy(circ, EndReason::protocol_error, nullptr);
                return;
            }
            handle_extend(circ, *req, true);
            return;
        }
        case RelayCommand::begin: {
            if (msg.stream_id == 0 || circ->find_stream(msg.stream_id) || circ->pending_streams.count(msg.stream_id)) {
                destroy(circ, EndReason::protocol_error, nullptr);
                return;
            }
            if (!m_config.exit_enabled) {
                m_metrics.reject("not_an_exit");
                reset(EndReason::exit_policy);
                return;
            }
            if (circ->stream_count() + circ->pending_streams.size() >= net::max_streams_per_circuit) {
                m_metrics.reject("streams_per_circuit");
                reset(EndReason::resource_limit);
                return;
            }
            auto target = net::decode_target(msg.body);
            if (!target) {
                m_metrics.reject("bad_target");
                reset(EndReason::protocol_error);
                return;
            }
            circ->pending_streams.insert(msg.stream_id);
            asio::co_spawn(m_io, open_exit_stream(circ, msg.stream_id, std::move(*target)), asio::detached);
            return;
        }
        case RelayCommand::connected:
        case RelayCommand::extended: destroy(circ, EndReason::protocol_error, nullptr); return;
        default:
            if (!circ->on_stream_message(msg)) {
                m_metrics.reject("flow_control");
                destroy(circ, EndReason::protocol_error, nullptr);
            }
            update_gauges();
            return;
    }
}

awaitable<void> RelayServer::open_exit_stream(std::weak_ptr<Circuit> weak, std::uint32_t stream_id,
                                              net::Target target) {
    auto ex = m_io.get_executor();
    auto finish_with = [&](EndReason reason) {
        auto c = weak.lock();
        if (!c || c->dead) return;
        c->pending_streams.erase(stream_id);
        const std::uint8_t r = static_cast<std::uint8_t>(reason);
        c->send_relay(RelayCommand::reset, stream_id, util::ByteView(&r, 1));
    };
    asio::steady_timer deadline(ex);
    deadline.expires_after(std::chrono::milliseconds(m_config.limits.connect_timeout_ms));
    auto timed_out = std::make_shared<bool>(false);

    std::vector<tcp::endpoint> candidates;
    boost::system::error_code ec;
    const auto literal = boost::asio::ip::make_address(target.host, ec);
    if (!ec) {
        candidates.emplace_back(literal, target.port);
    } else {
        auto resolver = std::make_shared<tcp::resolver>(ex);
        deadline.async_wait([resolver, timed_out](boost::system::error_code e) {
            if (e) return;
            *timed_out = true;
            resolver->cancel();
        });
        auto [rec, results] =
            co_await resolver->async_resolve(target.host, std::to_string(target.port), net::use_nothrow);
        if (*timed_out) {
            m_metrics.reject("resolve_timeout");
            finish_with(EndReason::timeout);
            co_return;
        }
        if (rec || results.empty()) {
            m_metrics.reject("resolve_failed");
            finish_with(EndReason::resolve_failed);
            co_return;
        }
        for (const auto& r : results) candidates.push_back(r.endpoint());
    }
    std::vector<tcp::endpoint> allowed;
    for (const auto& c : candidates)
        if (evaluate(m_config.exit_policy, c.address()) == Verdict::allow) allowed.push_back(c);
    if (allowed.empty()) {
        m_metrics.reject("exit_policy");
        finish_with(EndReason::exit_policy);
        co_return;
    }

    auto socket = std::make_shared<tcp::socket>(ex);
    deadline.cancel();
    deadline.expires_after(std::chrono::milliseconds(m_config.limits.connect_timeout_ms));
    deadline.async_wait([socket, timed_out](boost::system::error_code e) {
        if (e) return;
        *timed_out = true;
        boost::system::error_code ignored;
        socket->close(ignored);
    });
    boost::system::error_code last = asio::error::host_unreachable;
    bool connected = false;
    for (const auto& ep : allowed) {
        if (*timed_out) break;
        boost::system::error_code ignored;
        socket->close(ignored);
        auto [cec] = co_await socket->async_connect(ep, net::use_nothrow);
        if (!cec) {
            connected = true;
            break;
        }
        last = cec;
    }
    deadline.cancel();
    if (!connected) {
        m_metrics.reject("connect_failed");
        finish_with(*timed_out                                ? EndReason::timeout
                    : last == asio::error::connection_refused ? EndReason::connection_refused
                                                              : EndReason::host_unreachable);
        co_return;
    }
    auto circ = weak.lock();
    if (!circ || circ->dead) co_return;
    circ->pending_streams.erase(stream_id);
    auto stream = std::make_shared<net::SocketStream>(std::move(*socket), stream_id, circ);
    circ->add_stream(stream);
    circ->send_relay(RelayCommand::connected, stream_id, {});
    stream->start();
    update_gauges();
}

void RelayServer::destroy(const std::shared_ptr<Circuit>& circ, EndReason reason, const LinkState* from) {
    if (circ->dead) return;
    circ->dead = true;
    circ->close_all_streams(reason);
    const std::uint8_t r = static_cast<std::uint8_t>(reason);
    if (circ->up) {
        if (circ->up != from) circ->up->send(circ->up_id, CellCommand::destroy, util::ByteView(&r, 1));
        circ->up->up_circuits.erase(circ->up_id);
    }
    if (circ->down) {
        if (circ->down != from) circ->down->send(circ->down_id, CellCommand::destroy, util::ByteView(&r, 1));
        circ->down->down_circuits.erase(circ->down_id);
    }
    circ->up = nullptr;
    circ->down = nullptr;
    --m_circuit_count;
    update_gauges();
}

}  // namespace conet::relay
