// A link's send queue (net::SendQueue) driven by a fuzzer-chosen sequence of
// push / pop / take_overflowed / clear with small limits, against a model:
//   - cost() is the sum of queued_cost over the cells present, per circuit too;
//   - pop() hands out cells round-robin, one per circuit in turn, each circuit
//     in the order pushed;
//   - a circuit is dropped whole, only over its cap or while the queue is over
//     its limit (then the biggest first), and reported once per drop;
//   - after a drop, no cell of that circuit is accepted (so none is popped)
//     until a DESTROY for it is pushed;
//   - link_overflow() only when control cells alone exceed the limit.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <set>
#include <vector>

#include "conet/net/cell.hpp"
#include "conet/net/send_queue.hpp"

namespace {

using namespace conet::net;
using conet::util::Bytes;

void check(bool ok) {
    if (!ok) std::abort();
}

struct ModelCell {
    std::uint32_t serial;
    std::size_t cost;
};

struct Model {
    std::map<std::uint32_t, std::deque<ModelCell>> circuits;  ///< only circuits with cells
    std::deque<std::uint32_t> ring;
    std::set<std::uint32_t> awaiting_destroy;
    std::vector<std::uint32_t> reported;
    bool link_overflow = false;

    std::size_t cost(std::uint32_t id) const {
        auto it = circuits.find(id);
        std::size_t sum = 0;
        if (it != circuits.end())
            for (const auto& c : it->second) sum += c.cost;
        return sum;
    }
    std::size_t total() const {
        std::size_t sum = 0;
        for (const auto& [id, cells] : circuits) sum += cost(id);
        return sum;
    }
    void drop(std::uint32_t id) {
        circuits.erase(id);
        ring.erase(std::find(ring.begin(), ring.end(), id));
        awaiting_destroy.insert(id);
        reported.push_back(id);
    }
};

void check_same(const SendQueue& q, const Model& m) {
    check(q.cost() == m.total());
    check(q.empty() == m.ring.empty());
    check(m.ring.size() == m.circuits.size());
    for (const auto& [id, cells] : m.circuits) check(q.circuit_cost(id) == m.cost(id));
    check(q.link_overflow() == m.link_overflow);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const std::size_t max_circuit_bytes = in.ConsumeIntegralInRange<std::size_t>(0, 8000);
    const std::size_t max_bytes = in.ConsumeIntegralInRange<std::size_t>(max_circuit_bytes, 16000);
    SendQueue q(max_bytes, max_circuit_bytes);
    Model m;
    std::uint32_t serial = 0;

    for (int step = 0; step < 2000 && in.remaining_bytes() > 0; ++step) {
        switch (in.ConsumeIntegralInRange<int>(0, 5)) {
            case 0:
            case 1:
            case 2: {  // push
                const auto id = in.ConsumeIntegralInRange<std::uint32_t>(0, 4);
                const bool destroy = in.ConsumeIntegralInRange<int>(0, 3) == 0;
                Bytes body(4 + in.ConsumeIntegralInRange<std::size_t>(0, 600));
                ++serial;
                for (int i = 0; i < 4; ++i) body[i] = static_cast<std::uint8_t>(serial >> (24 - 8 * i));
                Bytes cell = encode_cell(id, destroy ? CellCommand::destroy : CellCommand::relay, body);
                cell.reserve(cell.size() + in.ConsumeIntegralInRange<std::size_t>(0, 2000));
                const std::size_t cost = queued_cost(cell);

                // What the model knows without choosing among equal circuits.
                bool accepted = true;
                if (m.awaiting_destroy.count(id)) {
                    if (!destroy)
                        accepted = false;
                    else
                        m.awaiting_destroy.erase(id);
                }
                const bool kept = q.push(std::move(cell));
                if (!accepted) {
                    check(!kept);
                    break;
                }
                if (m.circuits.find(id) == m.circuits.end()) m.ring.push_back(id);
                m.circuits[id].push_back({serial, cost});
                // Over its own cap: the circuit goes first, whatever else happens.
                if (id != 0 && m.cost(id) > max_circuit_bytes) m.drop(id);
                // Then whatever the queue dropped to fit: each the biggest circuit left.
                std::vector<std::pair<std::uint32_t, std::size_t>> pressure;
                for (const auto& [cid, cells] : std::map(m.circuits))
                    if (q.circuit_cost(cid) == 0) pressure.emplace_back(cid, m.cost(cid));
                std::sort(pressure.begin(), pressure.end(),
                          [](const auto& a, const auto& b) { return a.second > b.second; });
                std::size_t total = m.total();
                for (const auto& [cid, c] : pressure) {
                    check(cid != 0);
                    check(total > max_bytes);  // dropped only while over the limit
                    for (const auto& [other, cells] : m.circuits)
                        if (other != 0) check(m.cost(other) <= c);  // the biggest
                    m.drop(cid);
                    total -= c;
                }
                if (total > max_bytes) {
                    // Only control cells are left.
                    for (const auto& [cid, cells] : m.circuits) check(cid == 0);
                    m.link_overflow = true;
                }
                check(kept == (m.circuits.count(id) && m.circuits[id].back().serial == serial));
                break;
            }
            case 3: {  // pop
                auto cell = q.pop();
                if (m.ring.empty()) {
                    check(!cell);
                    break;
                }
                check(cell.has_value());
                auto decoded = decode_cell(*cell);
                check(decoded.has_value());
                const std::uint32_t id = m.ring.front();
                check(decoded->circuit_id == id);
                check(!m.awaiting_destroy.count(id));
                auto& cells = m.circuits[id];
                check(decoded->body.size() >= 4);
                std::uint32_t got = 0;
                for (int i = 0; i < 4; ++i) got = (got << 8) | decoded->body[i];
                check(got == cells.front().serial);
                cells.pop_front();
                m.ring.pop_front();
                if (cells.empty())
                    m.circuits.erase(id);
                else
                    m.ring.push_back(id);
                break;
            }
            case 4: {  // take_overflowed: each drop reported once
                auto got = q.take_overflowed();
                auto want = std::exchange(m.reported, {});
                std::sort(got.begin(), got.end());
                std::sort(want.begin(), want.end());
                check(got == want);
                break;
            }
            case 5:  // clear (link_overflow stays: the link is closing)
                q.clear();
                m.circuits.clear();
                m.ring.clear();
                m.awaiting_destroy.clear();
                m.reported.clear();
                break;
        }
        check_same(q, m);
    }
    return 0;
}
