#pragma once
/// A link's send queue (I/O-free, DESIGN §5 "Budgets"): cells kept per circuit
/// and handed out round-robin, one cell per circuit in turn, so a circuit with
/// a deep queue delays the others by at most one cell each. Every cell counts
/// what it holds in memory (queued_cost), not its payload.
///
/// Past `max_circuit_bytes` a circuit's queued cells are dropped and the
/// circuit is reported as overflowed; until its owner queues a DESTROY for it,
/// its other cells are dropped. Past `max_bytes` for the whole queue, the
/// circuit holding the most is dropped the same way: a shared link is never
/// given up for one circuit. Only control cells (circuit 0) over the limit
/// make the whole queue overflow (`link_overflow`).

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "conet/util/bytes.hpp"

namespace conet::net {

/// Bookkeeping charged per queued cell on top of its buffer (deque slot, allocator header).
inline constexpr std::size_t cell_bookkeeping_bytes = 64;
/// What a queued cell costs: its whole allocation, not its payload.
inline std::size_t queued_cost(const util::Bytes& cell) {
    return cell.capacity() + cell_bookkeeping_bytes;
}

class SendQueue {
public:
    SendQueue(std::size_t max_bytes, std::size_t max_circuit_bytes);

    /// Queues a cell (at least a cell header). Returns false if it was dropped
    /// (its circuit overflowed earlier, or this push made it overflow).
    bool push(util::Bytes cell);
    /// The next cell in round-robin order, or nothing.
    std::optional<util::Bytes> pop();

    bool empty() const { return m_circuits.empty(); }
    std::size_t cost() const { return m_cost; }
    std::size_t circuit_cost(std::uint32_t circuit_id) const;
    /// Circuits dropped since the last call (each reported once).
    std::vector<std::uint32_t> take_overflowed() { return std::exchange(m_new_overflows, {}); }
    /// Only control cells remain and they exceed max_bytes: the peer does not read.
    bool link_overflow() const { return m_link_overflow; }
    void clear();

private:
    struct Circuit {
        std::deque<util::Bytes> cells;
        std::size_t cost = 0;
    };
    void drop(std::uint32_t circuit_id);
    void check_invariants() const;

    std::size_t m_max_bytes;
    std::size_t m_max_circuit_bytes;
    std::unordered_map<std::uint32_t, Circuit> m_circuits;  ///< only circuits with cells
    std::deque<std::uint32_t> m_ring;                       ///< m_circuits' keys, each once, in turn order
    std::set<std::uint32_t> m_overflowed;                   ///< dropped until their DESTROY
    std::vector<std::uint32_t> m_new_overflows;
    std::size_t m_cost = 0;
    bool m_link_overflow = false;
};

}  // namespace conet::net
