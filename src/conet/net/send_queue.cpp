#include "conet/net/send_queue.hpp"

#include <algorithm>

#include "conet/codec/codec.hpp"
#include "conet/net/cell.hpp"
#include "conet/util/assert.hpp"

namespace conet::net {

SendQueue::SendQueue(std::size_t max_bytes, std::size_t max_circuit_bytes)
    : m_max_bytes(max_bytes), m_max_circuit_bytes(max_circuit_bytes) {
    CONET_ASSERT(max_circuit_bytes <= max_bytes);
}

std::size_t SendQueue::circuit_cost(std::uint32_t circuit_id) const {
    auto it = m_circuits.find(circuit_id);
    return it == m_circuits.end() ? 0 : it->second.cost;
}

bool SendQueue::push(util::Bytes cell) {
    CONET_ASSERT(cell.size() >= cell_header_bytes);
    const std::uint32_t id = codec::Reader(util::ByteView(cell).first(4)).u32().value();
    if (!m_overflowed.empty() && m_overflowed.count(id)) {
        // Its owner has not destroyed the circuit yet: only the DESTROY goes out.
        if (cell[4] != static_cast<std::uint8_t>(CellCommand::destroy)) return false;
        m_overflowed.erase(id);
    }
    const std::size_t cost = queued_cost(cell);
    auto [it, inserted] = m_circuits.try_emplace(id);
    if (inserted) m_ring.push_back(id);
    it->second.cells.push_back(std::move(cell));
    it->second.cost += cost;
    m_cost += cost;
    bool kept = true;
    if (id != 0 && it->second.cost > m_max_circuit_bytes) {
        drop(id);
        kept = false;
    }
    while (m_cost > m_max_bytes) {
        // The queue is full: give up the circuit that holds the most, not the link.
        std::uint32_t biggest = 0;
        std::size_t biggest_cost = 0;
        for (const auto& [cid, c] : m_circuits)
            if (cid != 0 && c.cost > biggest_cost) biggest = cid, biggest_cost = c.cost;
        if (biggest_cost == 0) {
            m_link_overflow = true;
            break;
        }
        if (biggest == id) kept = false;
        drop(biggest);
    }
    check_invariants();
    return kept;
}

void SendQueue::drop(std::uint32_t circuit_id) {
    auto it = m_circuits.find(circuit_id);
    CONET_ASSERT(it != m_circuits.end());
    m_cost -= it->second.cost;
    m_circuits.erase(it);
    m_ring.erase(std::find(m_ring.begin(), m_ring.end(), circuit_id));
    m_overflowed.insert(circuit_id);
    m_new_overflows.push_back(circuit_id);
}

std::optional<util::Bytes> SendQueue::pop() {
    if (m_ring.empty()) return std::nullopt;
    const std::uint32_t id = m_ring.front();
    m_ring.pop_front();
    auto it = m_circuits.find(id);
    CONET_ASSERT(it != m_circuits.end() && !it->second.cells.empty());
    util::Bytes cell = std::move(it->second.cells.front());
    it->second.cells.pop_front();
    const std::size_t cost = queued_cost(cell);
    it->second.cost -= cost;
    m_cost -= cost;
    if (it->second.cells.empty()) {
        CONET_ASSERT(it->second.cost == 0);
        m_circuits.erase(it);
    } else {
        m_ring.push_back(id);
    }
    return cell;
}

void SendQueue::clear() {
    m_circuits.clear();
    m_ring.clear();
    m_overflowed.clear();
    m_new_overflows.clear();
    m_cost = 0;
}

void SendQueue::check_invariants() const {
#ifndef NDEBUG
    CONET_ASSERT(m_ring.size() == m_circuits.size());
    if (m_circuits.size() > 64) return;  // the full walk only on small queues: it runs per push
    std::size_t total = 0;
    for (const auto& [id, c] : m_circuits) {
        CONET_ASSERT(!c.cells.empty());
        total += c.cost;
    }
    CONET_ASSERT(total == m_cost);
#endif
}

}  // namespace conet::net
