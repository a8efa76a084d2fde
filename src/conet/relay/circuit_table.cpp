#include "conet/relay/circuit_table.hpp"

#include <algorithm>

#include "conet/net/circuit_handshake.hpp"
#include "conet/util/assert.hpp"

namespace conet::relay {

using net::CellCommand;
using net::EndReason;
using net::RelayCommand;

bool RateBucket::take(double rate, double burst, TimeMs now) {
    if (!last) {
        tokens = burst;
    } else if (now > *last) {
        tokens = std::min(burst, tokens + static_cast<double>(now - *last) / 1000.0 * rate);
    }
    last = std::max(now, last.value_or(now));
    if (tokens < 1.0) return false;
    tokens -= 1.0;
    return true;
}

CircuitTable::CircuitTable(crypto::X25519KeyPair static_key, const util::Limits& limits,
                           const ledger::Directory& directory)
    : m_key(std::move(static_key)), m_limits(limits), m_directory(directory) {}

void CircuitTable::check(CircuitKey key) const {
    const auto it = m_circuits.find(key);
    if (it == m_circuits.end()) return;
    const Circuit& c = it->second;
    const auto up = m_links.find(c.up_link);
    CONET_ASSERT(up != m_links.end());
    const auto mark = up->second.up.find(c.up_id);
    CONET_ASSERT(mark != up->second.up.end() && mark->second == key);
    if (c.down_link) {
        const auto down = m_links.find(*c.down_link);
        CONET_ASSERT(down != m_links.end());
        const auto dm = down->second.down.find(c.down_id);
        CONET_ASSERT(dm != down->second.down.end() && dm->second == key);
    }
    CONET_ASSERT(!c.extending || !c.exit_used);
}

void CircuitTable::link_up(LinkId link, LinkInfo info) {
    const auto [it, fresh] = m_links.try_emplace(link);
    CONET_ASSERT(fresh);
    it->second.info = std::move(info);
}

void CircuitTable::link_down(LinkId link, TableActions& out) {
    auto it = m_links.find(link);
    if (it == m_links.end()) return;
    std::vector<CircuitKey> keys;
    for (const auto& [id, key] : it->second.up) keys.push_back(key);
    for (const auto& [id, key] : it->second.down) keys.push_back(key);
    for (const CircuitKey key : keys) destroy(key, EndReason::destroyed, link, out);
    it = m_links.find(link);
    CONET_ASSERT(it != m_links.end() && it->second.up.empty() && it->second.down.empty());
    m_links.erase(it);
}

std::optional<LinkId> CircuitTable::outbound_link_to(const crypto::X25519Public& key) const {
    for (const auto& [id, l] : m_links)
        if (l.info.outbound && l.info.peer_key == key) return id;
    return std::nullopt;
}

std::optional<std::pair<LinkId, std::uint32_t>> CircuitTable::up_of(CircuitKey circuit) const {
    const auto it = m_circuits.find(circuit);
    if (it == m_circuits.end()) return std::nullopt;
    return std::pair{it->second.up_link, it->second.up_id};
}

void CircuitTable::send_destroy(LinkId link, std::uint32_t id, EndReason reason, TableActions& out) {
    const auto r = static_cast<std::uint8_t>(reason);
    out.sends.push_back({link, net::encode_cell(id, CellCommand::destroy, util::ByteView(&r, 1))});
}

void CircuitTable::punish(LinkId link, const char* why, TableActions& out) {
    out.rejects.push_back(why);
    out.closes.push_back({link, std::string("misbehaving peer: ") + why, true});
}

// ---- cells ----------------------------------------------------------------------------------

void CircuitTable::on_cell(LinkId link_id, util::ByteView bytes, TimeMs now, util::Rng& rng, TableActions& out) {
    auto lit = m_links.find(link_id);
    CONET_ASSERT(lit != m_links.end());
    Link& link = lit->second;
    auto cell = net::parse_cell(bytes);
    if (!cell) {
        out.rejects.push_back("malformed_cell");
        out.closes.push_back({link_id, "malformed cell"});
        return;
    }
    auto up = [&](std::uint32_t id) -> std::optional<CircuitKey> {
        const auto it = link.up.find(id);
        return it == link.up.end() ? std::nullopt : std::optional(it->second);
    };
    auto down = [&](std::uint32_t id) -> std::optional<CircuitKey> {
        const auto it = link.down.find(id);
        return it == link.down.end() ? std::nullopt : std::optional(it->second);
    };
    switch (cell->command) {
        case CellCommand::create: create(link_id, link, *cell, now, rng, out); return;
        case CellCommand::relay:
            if (const auto key = up(cell->circuit_id)) {
                forward(*key, m_circuits.at(*key), cell->body, out);
            } else if (const auto dkey = down(cell->circuit_id)) {
                backward(*dkey, m_circuits.at(*dkey), cell->body, out);
            }
            return;  // cells for circuits already gone are dropped
        case CellCommand::extend: {
            const auto key = up(cell->circuit_id);
            auto req = net::decode_extend(cell->body);
            Circuit* c = key ? &m_circuits.at(*key) : nullptr;
            // Only a user's first hop (no onion layer of ours) extends on a link cell.
            if (!c || c->session || c->down_link || c->extending || c->exit_used || !req) {
                out.rejects.push_back("bad_extend");
                if (key) destroy(*key, EndReason::protocol_error, std::nullopt, out);
                return;
            }
            extend(*key, *c, *req, false, out);
            return;
        }
        case CellCommand::created: {
            const auto key = down(cell->circuit_id);
            if (!key) return;
            Circuit& c = m_circuits.at(*key);
            if (!c.extending) return;
            c.extending = false;
            if (c.reply_as_relay) {
                util::Bytes buf(headroom + net::relay_header_bytes);
                net::put_relay_header(buf.data() + headroom, RelayCommand::extended, 0);
                util::append(buf, cell->body);
                send_from_exit(*key, std::move(buf), out);
            } else {
                out.sends.push_back({c.up_link, net::encode_cell(c.up_id, CellCommand::extended, cell->body)});
            }
            return;
        }
        case CellCommand::destroy:
            if (const auto key = up(cell->circuit_id)) destroy(*key, EndReason::destroyed, link_id, out);
            if (const auto key = down(cell->circuit_id)) destroy(*key, EndReason::destroyed, link_id, out);
            return;
        default:
            out.rejects.push_back("unexpected_cell");
            out.closes.push_back({link_id, "unexpected cell command"});
            return;
    }
}

RateBucket& CircuitTable::prefix_creates(const std::string& prefix, TimeMs now) {
    constexpr std::size_t max_tracked_prefixes = 65'536;
    if (m_prefix_creates.size() >= max_tracked_prefixes && !m_prefix_creates.count(prefix)) {
        // A minute unused and the bucket would be full again: forgetting it changes nothing.
        std::erase_if(m_prefix_creates, [&](const auto& e) { return now - e.second.last_used > 60'000; });
        if (m_prefix_creates.size() >= max_tracked_prefixes) m_prefix_creates.erase(m_prefix_creates.begin());
    }
    auto& p = m_prefix_creates[prefix];
    p.last_used = now;
    return p.bucket;
}

void CircuitTable::create(LinkId link_id, Link& link, const net::CellView& cell, TimeMs now, util::Rng& rng,
                          TableActions& out) {
    const auto& lim = m_limits;
    if (link.up.count(cell.circuit_id) || cell.circuit_id == 0) {
        out.rejects.push_back("duplicate_circuit");
        out.closes.push_back({link_id, "circuit id reused"});
        return;
    }
    if (link.up.size() >= lim.max_circuits_per_link) {
        out.rejects.push_back("circuits_per_link");
        send_destroy(link_id, cell.circuit_id, EndReason::resource_limit, out);
        return;
    }
    const bool from_user = link.info.from_user;
    if (from_user) {
        // CPU budget: a user's link and its network may start only so many
        // handshakes per second. Relay links carry many users' CREATEs and are
        // limited where those users connect, at their entries.
        const auto per_link = static_cast<double>(lim.creates_per_second_per_link);
        const auto burst = static_cast<double>(lim.creates_burst_per_link);
        const auto per_prefix = static_cast<double>(lim.creates_per_second_per_prefix);
        const bool link_ok = link.creates.take(per_link, burst, now);
        const bool prefix_ok = link_ok && prefix_creates(link.info.prefix, now).take(per_prefix, 2 * per_prefix, now);
        if (!link_ok || !prefix_ok) {
            out.rejects.push_back("create_rate");
            // Refusals have a budget of their own (the same rate and burst): a
            // link that keeps sending past it ignores them, and is closed.
            if (!link.refusals.take(per_link, burst, now)) {
                punish(link_id, "bad_creates", out);
                return;
            }
            send_destroy(link_id, cell.circuit_id, EndReason::resource_limit, out);
            return;
        }
    }
    Circuit c;
    c.up_link = link_id;
    c.up_id = cell.circuit_id;
    util::Bytes reply;
    if (cell.body.empty()) {
        if (!from_user) {
            out.rejects.push_back("bad_create");
            out.closes.push_back({link_id, "relay links must create onion hops"});
            return;
        }
    } else {
        auto hop = net::respond_circuit_handshake(m_key, cell.body, rng);
        if (!hop) {
            out.rejects.push_back("circuit_handshake");
            // A user's link that keeps sending CREATEs we cannot answer is closed
            // and its address slowed down; a relay link may be forwarding one
            // user's junk, so only that circuit is refused.
            if (from_user && ++link.bad_creates >= lim.max_bad_creates_per_link) {
                punish(link_id, "bad_creates", out);
                return;
            }
            send_destroy(link_id, cell.circuit_id, EndReason::protocol_error, out);
            return;
        }
        c.session.emplace(std::move(hop->transport));
        reply = std::move(hop->reply);
    }
    const CircuitKey key = m_next_circuit++;
    m_circuits.emplace(key, std::move(c));
    link.up[cell.circuit_id] = key;
    out.sends.push_back({link_id, net::encode_cell(cell.circuit_id, CellCommand::created, reply)});
    check(key);
}

void CircuitTable::extend(CircuitKey key, Circuit& c, const net::ExtendRequest& req, bool reply_as_relay,
                          TableActions& out) {
    const ledger::NodeRecord* node = m_directory.find(req.node_key);
    if (!node || req.node_key == m_key.public_key) {
        out.rejects.push_back("extend_unknown_relay");
        if (!node) out.unknown_relay = true;
        destroy(key, EndReason::misc, std::nullopt, out);
        return;
    }
    c.extending = true;
    c.reply_as_relay = reply_as_relay;
    c.pending_create = req.handshake;
    if (const auto link = outbound_link_to(req.node_key)) {
        extend_ready(key, *link, out);
        return;
    }
    out.dials.push_back({key, *node});
}

void CircuitTable::extend_ready(CircuitKey key, LinkId link_id, TableActions& out) {
    auto it = m_circuits.find(key);
    if (it == m_circuits.end()) return;  // destroyed while dialling
    Circuit& c = it->second;
    CONET_ASSERT(c.extending && !c.down_link);
    auto lit = m_links.find(link_id);
    CONET_ASSERT(lit != m_links.end());
    Link& link = lit->second;
    std::uint32_t id = link.next_id;
    while (id == 0 || link.down.count(id)) ++id;
    link.next_id = id + 1;
    link.down[id] = key;
    c.down_link = link_id;
    c.down_id = id;
    out.sends.push_back({link_id, net::encode_cell(id, CellCommand::create, c.pending_create)});
    c.pending_create = util::Bytes();
    check(key);
}

void CircuitTable::extend_failed(CircuitKey key, EndReason reason, TableActions& out) {
    if (m_circuits.count(key)) destroy(key, reason, std::nullopt, out);
}

void CircuitTable::forward(CircuitKey key, Circuit& c, util::ByteView body, TableActions& out) {
    if (!c.session) {
        // A user's first hop: the link was the layer; pass the cell on as it is.
        if (!c.down_link) {
            out.rejects.push_back("relay_without_hop");
            destroy(key, EndReason::protocol_error, std::nullopt, out);
            return;
        }
        out.sends.push_back({*c.down_link, net::encode_cell(c.down_id, CellCommand::relay, body)});
        return;
    }
    // Remove our layer straight into the cell we may forward.
    if (body.size() < crypto::noise::tag_bytes) {
        destroy(key, EndReason::protocol_error, std::nullopt, out);
        return;
    }
    util::Bytes buf(net::cell_header_bytes + body.size() - crypto::noise::tag_bytes);
    if (!c.session->decrypt_to(body, buf.data() + net::cell_header_bytes)) {
        out.rejects.push_back("onion_auth");
        destroy(key, EndReason::protocol_error, std::nullopt, out);
        return;
    }
    if (c.down_link) {
        net::put_cell_header(buf.data(), c.down_id, CellCommand::relay);
        out.sends.push_back({*c.down_link, std::move(buf)});
        return;
    }
    auto msg = net::parse_relay(util::ByteView(buf).subspan(net::cell_header_bytes));
    if (!msg) {
        out.rejects.push_back("malformed_relay");
        destroy(key, EndReason::protocol_error, std::nullopt, out);
        return;
    }
    at_exit(key, c, std::move(buf), *msg, out);
}

void CircuitTable::at_exit(CircuitKey key, Circuit& c, util::Bytes buffer, const net::RelayView& msg,
                           TableActions& out) {
    switch (msg.command) {
        case RelayCommand::extend: {
            auto req = net::decode_extend(msg.body);
            if (!req || c.extending || c.exit_used) {
                destroy(key, EndReason::protocol_error, std::nullopt, out);
                return;
            }
            extend(key, c, *req, true, out);
            return;
        }
        case RelayCommand::connected:
        case RelayCommand::extended: destroy(key, EndReason::protocol_error, std::nullopt, out); return;
        default:
            if (c.extending) {
                // Streams wait until the circuit is whole.
                destroy(key, EndReason::protocol_error, std::nullopt, out);
                return;
            }
            c.exit_used = true;
            out.exit_messages.push_back({key, std::move(buffer), msg});
            return;
    }
}

void CircuitTable::backward(CircuitKey key, Circuit& c, util::ByteView body, TableActions& out) {
    if (!c.session) {
        out.sends.push_back({c.up_link, net::encode_cell(c.up_id, CellCommand::relay, body)});
        return;
    }
    util::Bytes buf;
    buf.reserve(headroom + body.size() + crypto::noise::tag_bytes);
    buf.resize(headroom);
    buf.back() = 0x01;  // origin marker: a later hop's message
    util::append(buf, body);
    if (!c.session->encrypt_in_place(buf, net::cell_header_bytes)) {
        destroy(key, EndReason::resource_limit, std::nullopt, out);
        return;
    }
    net::put_cell_header(buf.data(), c.up_id, CellCommand::relay);
    out.sends.push_back({c.up_link, std::move(buf)});
}

bool CircuitTable::send_from_exit(CircuitKey key, util::Bytes buf, TableActions& out) {
    auto it = m_circuits.find(key);
    if (it == m_circuits.end()) return false;
    Circuit& c = it->second;
    CONET_ASSERT(buf.size() >= headroom + net::relay_header_bytes);
    if (!c.session) {
        // Only a circuit with our own layer has a last hop here (a user's
        // first hop without a layer must extend before it can be used).
        destroy(key, EndReason::protocol_error, std::nullopt, out);
        return false;
    }
    buf[net::cell_header_bytes] = 0x00;  // origin marker: this hop's own message
    if (!c.session->encrypt_in_place(buf, net::cell_header_bytes)) {
        destroy(key, EndReason::resource_limit, std::nullopt, out);
        return false;
    }
    net::put_cell_header(buf.data(), c.up_id, CellCommand::relay);
    out.sends.push_back({c.up_link, std::move(buf)});
    return true;
}

void CircuitTable::on_circuit_overflow(LinkId link_id, std::uint32_t circuit_id, TableActions& out) {
    out.rejects.push_back("circuit_queue");
    auto lit = m_links.find(link_id);
    if (lit == m_links.end()) return;
    std::optional<CircuitKey> key;
    if (auto it = lit->second.up.find(circuit_id); it != lit->second.up.end()) key = it->second;
    if (auto it = lit->second.down.find(circuit_id); it != lit->second.down.end()) key = it->second;
    if (key) {
        destroy(*key, EndReason::resource_limit, std::nullopt, out);
    } else {
        // Already gone: still release the link's mark on the id.
        send_destroy(link_id, circuit_id, EndReason::resource_limit, out);
    }
}

void CircuitTable::destroy(CircuitKey key, EndReason reason, TableActions& out) {
    destroy(key, reason, std::nullopt, out);
}

void CircuitTable::destroy(CircuitKey key, EndReason reason, std::optional<LinkId> from, TableActions& out) {
    auto it = m_circuits.find(key);
    if (it == m_circuits.end()) return;
    Circuit& c = it->second;
    if (c.up_link != from) send_destroy(c.up_link, c.up_id, reason, out);
    if (auto l = m_links.find(c.up_link); l != m_links.end()) l->second.up.erase(c.up_id);
    if (c.down_link) {
        if (c.down_link != from) send_destroy(*c.down_link, c.down_id, reason, out);
        if (auto l = m_links.find(*c.down_link); l != m_links.end()) l->second.down.erase(c.down_id);
    }
    m_circuits.erase(it);
    out.closed.push_back({key, reason});
}

}  // namespace conet::relay
