#include "conet/proxy/circuit_core.hpp"

#include <algorithm>

#include "conet/net/circuit_handshake.hpp"
#include "conet/util/assert.hpp"

namespace conet::proxy {

using net::CellCommand;
using net::EndReason;
using net::RelayCommand;

ClientCircuitCore::ClientCircuitCore(std::vector<crypto::X25519Public> path, std::uint32_t circuit_id,
                                     CircuitTimeouts timeouts)
    : m_path(std::move(path)), m_id(circuit_id), m_timeouts(timeouts) {
    CONET_ASSERT(!m_path.empty() && m_path.size() <= net::max_hops);
    CONET_ASSERT(circuit_id != 0);
}

void ClientCircuitCore::check() const {
    CONET_ASSERT(m_hops.size() < m_path.size());
    CONET_ASSERT(m_state == State::ready || m_opening.empty());
    CONET_ASSERT(m_state != State::ready || m_hops.size() + 1 == m_path.size());
    CONET_ASSERT(m_state == State::building || !m_handshake);
    for (const auto& [id, deadline] : m_opening) CONET_ASSERT(!m_abandoned.count(id) && id < m_next_stream);
}

CircuitActions ClientCircuitCore::start(TimeMs now) {
    CONET_ASSERT(!m_started && m_state == State::building);
    m_started = true;
    m_create_sent = now;
    m_build_deadline = now + m_timeouts.build_ms;
    CircuitActions out;
    // The entry's layer is the link itself: CREATE carries no handshake.
    out.cells.push_back(net::encode_cell(m_id, CellCommand::create, {}));
    return out;
}

CircuitActions ClientCircuitCore::on_cell(const net::CellView& cell, TimeMs now, util::Rng& rng) {
    CONET_ASSERT(cell.circuit_id == m_id);
    CircuitActions out;
    if (m_state == State::dead || !m_started) return out;  // cells racing our DESTROY
    switch (cell.command) {
        case CellCommand::created:
            // The entry answers CREATE with CREATED, then the first EXTEND with EXTENDED.
            if (m_state != State::building || m_entry_created)
                die(out, EndReason::protocol_error, true, "unexpected CREATED");
            else
                on_reply(cell.body, now, rng, out);
            break;
        case CellCommand::extended:
            if (m_state != State::building || !m_entry_created || !m_hops.empty())
                die(out, EndReason::protocol_error, true, "unexpected EXTENDED");
            else
                on_reply(cell.body, now, rng, out);
            break;
        case CellCommand::destroy: die(out, EndReason::destroyed, false, "destroyed"); break;
        case CellCommand::relay: on_relay(cell.body, now, rng, out); break;
        default: die(out, EndReason::protocol_error, true, "unexpected cell"); break;
    }
    check();
    return out;
}

void ClientCircuitCore::on_reply(util::ByteView reply, TimeMs now, util::Rng& rng, CircuitActions& out) {
    if (!m_entry_created) {
        m_entry_created = true;
        out.entry_rtt = now - m_create_sent;
    } else {
        CONET_ASSERT(m_handshake.has_value());
        auto session = net::finish_circuit_handshake(std::move(*m_handshake), reply);
        m_handshake.reset();
        if (!session) {
            die(out, EndReason::misc, true, "hop authentication failed");
            return;
        }
        m_hops.push_back(std::move(*session));
    }
    if (m_hops.size() + 1 == m_path.size()) {
        m_state = State::ready;
        out.ready = true;
        return;
    }
    extend_next(out, rng);
}

void ClientCircuitCore::extend_next(CircuitActions& out, util::Rng& rng) {
    const std::size_t k = m_hops.size() + 1;  // the path index being added
    auto start = net::start_circuit_handshake(m_path[k], rng);
    if (!start) {
        die(out, EndReason::misc, true, "handshake setup");
        return;
    }
    m_handshake.emplace(std::move(start->state));
    const util::Bytes ext = net::encode_extend({m_path[k], start->message});
    if (k == 1) {
        // The entry extends on a cell of its own: it has no onion layer.
        out.cells.push_back(net::encode_cell(m_id, CellCommand::extend, ext));
        return;
    }
    // A later hop gets RELAY(EXTEND) sealed for it and every hop before.
    util::Bytes buf(net::cell_header_bytes + net::relay_header_bytes);
    net::put_relay_header(buf.data() + net::cell_header_bytes, RelayCommand::extend, 0);
    util::append(buf, ext);
    if (!seal_layers(k - 1, buf)) {
        die(out, EndReason::resource_limit, true, "sealing failed");
        return;
    }
    out.cells.push_back(std::move(buf));
}

bool ClientCircuitCore::seal_layers(std::size_t layers, util::Bytes& buf) {
    CONET_ASSERT(layers <= m_hops.size() && buf.size() >= net::cell_header_bytes + net::relay_header_bytes);
    for (std::size_t i = layers; i-- > 0;)
        if (!m_hops[i].encrypt_in_place(buf, net::cell_header_bytes)) return false;
    net::put_cell_header(buf.data(), m_id, CellCommand::relay);
    return true;
}

bool ClientCircuitCore::seal(util::Bytes& buffer) {
    if (m_state != State::ready) return false;
    return seal_layers(m_hops.size(), buffer);
}

void ClientCircuitCore::on_relay(util::ByteView sealed, TimeMs now, util::Rng& rng, CircuitActions& out) {
    // Remove layers in path order, in place, until a hop's own message appears.
    util::Bytes buf(sealed.begin(), sealed.end());
    std::size_t offset = 0, len = buf.size();
    for (std::size_t i = 0; i < m_hops.size(); ++i) {
        auto n = m_hops[i].decrypt_to(util::ByteView(buf.data() + offset, len), buf.data() + offset);
        if (!n || *n == 0) break;
        const std::uint8_t marker = buf[offset];
        offset += 1;
        len = *n - 1;
        if (marker == 0x01) continue;  // a later hop's message
        if (marker != 0x00) break;
        auto msg = net::parse_relay(util::ByteView(buf.data() + offset, len));
        if (!msg) break;
        on_message(i, std::move(buf), *msg, now, rng, out);
        return;
    }
    die(out, EndReason::protocol_error, true, "undecryptable relay cell");
}

void ClientCircuitCore::on_message(std::size_t hop, util::Bytes buffer, const net::RelayView& msg, TimeMs now,
                                   util::Rng& rng, CircuitActions& out) {
    const bool from_last = hop + 1 == m_hops.size();
    if (msg.command == RelayCommand::extended) {
        if (m_state != State::building || !from_last || !m_handshake) {
            die(out, EndReason::protocol_error, true, "unexpected EXTENDED");
            return;
        }
        on_reply(msg.body, now, rng, out);
        return;
    }
    if (!from_last || m_state != State::ready) {
        die(out, EndReason::protocol_error, true, "message from a middle hop");
        return;
    }
    if (msg.command == RelayCommand::reset && msg.body.size() == 1 &&
        (msg.body[0] == static_cast<std::uint8_t>(EndReason::payment_required) ||
         msg.body[0] == static_cast<std::uint8_t>(EndReason::balance_exhausted)))
        out.refusal = static_cast<EndReason>(msg.body[0]);
    if (msg.command == RelayCommand::connected || msg.command == RelayCommand::reset) {
        if (m_opening.erase(msg.stream_id)) {
            StreamAnswer a{msg.stream_id, msg.command == RelayCommand::connected, EndReason::misc};
            if (!a.connected && msg.body.size() == 1) a.reason = static_cast<EndReason>(msg.body[0]);
            out.answers.push_back(a);
            return;
        }
        // The answer to a BEGIN we gave up on, racing our RESET: dropped.
        if (m_abandoned.erase(msg.stream_id)) return;
        if (msg.command == RelayCommand::connected) {
            die(out, EndReason::protocol_error, true, "CONNECTED for no stream being opened");
            return;
        }
    }
    out.message = StreamMessage{std::move(buffer), msg};
}

CircuitActions ClientCircuitCore::open_stream(const net::Target& target, TimeMs now) {
    CONET_ASSERT(m_state == State::ready);
    CircuitActions out;
    const std::uint32_t id = m_next_stream++;
    CONET_ASSERT(id != 0);
    const util::Bytes body = net::encode_target(target);
    util::Bytes buf(net::cell_header_bytes + net::relay_header_bytes);
    net::put_relay_header(buf.data() + net::cell_header_bytes, RelayCommand::begin, id);
    util::append(buf, body);
    if (!seal(buf)) {
        die(out, EndReason::resource_limit, true, "sealing failed");
        out.answers.push_back({id, false, EndReason::resource_limit});
        return out;
    }
    out.cells.push_back(std::move(buf));
    m_opening[id] = now + m_timeouts.stream_ms;
    check();
    return out;
}

CircuitActions ClientCircuitCore::on_time(TimeMs now) {
    CircuitActions out;
    if (m_state == State::building && m_started && now >= m_build_deadline) {
        die(out, EndReason::misc, true, m_entry_created ? "extend timed out" : "no CREATED");
        return out;
    }
    for (auto it = m_opening.begin(); it != m_opening.end();) {
        if (it->second > now) {
            ++it;
            continue;
        }
        const std::uint32_t id = it->first;
        it = m_opening.erase(it);
        out.answers.push_back({id, false, EndReason::timeout});
        // The exit may still answer; its CONNECTED must not be taken for a protocol error.
        m_abandoned.insert(id);
        const std::uint8_t reason = static_cast<std::uint8_t>(EndReason::timeout);
        util::Bytes buf(net::cell_header_bytes + net::relay_header_bytes);
        net::put_relay_header(buf.data() + net::cell_header_bytes, RelayCommand::reset, id);
        buf.push_back(reason);
        if (!seal(buf)) {
            die(out, EndReason::resource_limit, true, "sealing failed");
            return out;
        }
        out.cells.push_back(std::move(buf));
    }
    check();
    return out;
}

std::optional<TimeMs> ClientCircuitCore::next_deadline() const {
    if (m_state == State::building) return m_started ? std::optional<TimeMs>(m_build_deadline) : std::nullopt;
    std::optional<TimeMs> first;
    for (const auto& [id, deadline] : m_opening) first = std::min(first.value_or(deadline), deadline);
    return first;
}

CircuitActions ClientCircuitCore::kill(EndReason reason, bool send_destroy, std::string_view why) {
    CircuitActions out;
    die(out, reason, send_destroy, why);
    return out;
}

void ClientCircuitCore::die(CircuitActions& out, EndReason reason, bool send_destroy, std::string_view why) {
    if (m_state == State::dead) return;
    const bool building = m_state == State::building;
    m_state = State::dead;
    if (send_destroy && m_started) {
        const auto r = static_cast<std::uint8_t>(reason);
        out.cells.push_back(net::encode_cell(m_id, CellCommand::destroy, util::ByteView(&r, 1)));
    }
    for (const auto& [id, deadline] : m_opening) out.answers.push_back({id, false, EndReason::destroyed});
    m_opening.clear();
    m_abandoned.clear();
    m_handshake.reset();
    CircuitDeath d{reason, std::nullopt, why};
    // A circuit that dies while building blames the hop it was waiting for.
    if (building) d.build_hop = m_entry_created ? m_hops.size() + 1 : 0;
    out.death = d;
}

}  // namespace conet::proxy
