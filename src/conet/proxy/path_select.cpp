#include "conet/proxy/path_select.hpp"

#include <algorithm>

#include <boost/asio/ip/address.hpp>

#include "conet/codec/codec.hpp"
#include "conet/util/assert.hpp"

namespace conet::proxy {

namespace {

std::uint64_t random_u64(util::Rng& rng) {
    std::array<std::uint8_t, 8> b{};
    rng.fill(b);
    return codec::load_be<std::uint64_t>(b.data());
}

const RelayView* find(std::span<const RelayView> relays, const crypto::X25519Public& key) {
    for (const auto& v : relays)
        if (v.record->noise_key == key) return &v;
    return nullptr;
}

bool is_guard(std::span<const crypto::X25519Public> guards, const crypto::X25519Public& key) {
    return std::find(guards.begin(), guards.end(), key) != guards.end();
}

const RelayView* pick_view(util::Rng& rng, const std::vector<const RelayView*>& views) {
    std::vector<std::uint64_t> weights;
    weights.reserve(views.size());
    for (const auto* v : views) weights.push_back(std::min(v->weight, max_path_weight));
    return views[pick_weighted(rng, weights)];
}

/// Guards not yet measured, and those close to the best latency (DESIGN §6:
/// the entry by latency), picked by stake.
const RelayView* pick_entry(util::Rng& rng, const std::vector<const RelayView*>& candidates) {
    std::optional<double> best;
    for (const auto* v : candidates)
        if (v->rtt_ms && (!best || *v->rtt_ms < *best)) best = v->rtt_ms;
    std::vector<const RelayView*> close;
    for (const auto* v : candidates)
        if (!v->rtt_ms || *v->rtt_ms <= *best * 1.5 + 2.0) close.push_back(v);
    return pick_view(rng, close);
}

}  // namespace

std::optional<NetworkGroup> network_group(const ledger::Endpoint& e) {
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(e.host, ec);
    if (ec) return std::nullopt;
    if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
        const auto b = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, addr.to_v6()).to_bytes();
        return NetworkGroup{4, b[0], b[1], 0, 0};
    }
    if (addr.is_v4()) {
        const auto b = addr.to_v4().to_bytes();
        return NetworkGroup{4, b[0], b[1], 0, 0};
    }
    const auto b = addr.to_v6().to_bytes();
    return NetworkGroup{6, b[0], b[1], b[2], b[3]};
}

bool share_network(const ledger::NodeRecord& a, const ledger::NodeRecord& b) {
    for (const auto& ea : a.endpoints) {
        const auto ga = network_group(ea);
        if (!ga) continue;
        for (const auto& eb : b.endpoints)
            if (network_group(eb) == ga) return true;
    }
    return false;
}

bool may_share_path(const ledger::NodeRecord& a, const ledger::NodeRecord& b, bool allow_same_network) {
    return a.noise_key != b.noise_key && a.operator_address != b.operator_address &&
           (allow_same_network || !share_network(a, b));
}

std::size_t pick_weighted(util::Rng& rng, std::span<const std::uint64_t> weights) {
    CONET_ASSERT(!weights.empty());
    std::uint64_t total = 0;
    for (auto w : weights) {
        CONET_ASSERT(w <= max_path_weight);
        total += w;  // cannot overflow: at most 2^16 weights of at most 2^48 each
    }
    CONET_ASSERT(weights.size() <= (std::size_t(1) << 16));
    if (total == 0) {
        const std::uint64_t n = weights.size();
        const std::uint64_t threshold = (0 - n) % n;  // rejection sampling: no modulo bias
        std::uint64_t r;
        do r = random_u64(rng);
        while (r < threshold);
        return static_cast<std::size_t>(r % n);
    }
    const std::uint64_t threshold = (0 - total) % total;
    std::uint64_t r;
    do r = random_u64(rng);
    while (r < threshold);
    r %= total;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        if (r < weights[i]) return i;
        r -= weights[i];
    }
    CONET_ASSERT(false);
    return 0;
}

std::vector<RelayView> relay_views(const ledger::Directory& directory) {
    std::vector<RelayView> out;
    const auto& records = directory.records();
    out.reserve(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
        RelayView v;
        v.record = &records[i];
        v.weight = directory.has_stakes() ? std::min(directory.stake(i), max_path_weight) : 1;
        out.push_back(v);
    }
    return out;
}

void EntryGuards::update(std::span<const RelayView> relays, util::Rng& rng) {
    std::erase_if(m_guards, [&](const crypto::X25519Public& k) {
        const auto* v = find(relays, k);
        return !v || !v->record->is_entry();
    });
    auto working = [&](const crypto::X25519Public& k) { return !find(relays, k)->failed; };
    std::size_t in_use = static_cast<std::size_t>(std::count_if(m_guards.begin(), m_guards.end(), working));
    while (in_use < m_count) {
        std::vector<const RelayView*> candidates;
        for (const auto& v : relays)
            if (v.record->is_entry() && !v.failed && !is_guard(m_guards, v.record->noise_key)) candidates.push_back(&v);
        if (candidates.empty()) return;
        if (m_guards.size() >= m_count * guards_sampled_per_guard) {
            auto oldest_failed = std::find_if_not(m_guards.begin(), m_guards.end(), working);
            CONET_ASSERT(oldest_failed != m_guards.end());  // in_use < m_count <= size
            m_guards.erase(oldest_failed);
        }
        m_guards.push_back(pick_view(rng, candidates)->record->noise_key);
        ++in_use;
    }
}

std::vector<crypto::X25519Public> EntryGuards::primary(std::span<const RelayView> relays) const {
    std::vector<crypto::X25519Public> out;
    for (const auto& k : m_guards) {
        if (out.size() == m_count) break;
        const auto* v = find(relays, k);
        if (v && !v->failed && v->record->is_entry()) out.push_back(k);
    }
    return out;
}

std::vector<const ledger::NodeRecord*> choose_path(std::span<const RelayView> relays,
                                                   std::span<const crypto::X25519Public> guards, const PathRules& rules,
                                                   util::Rng& rng) {
    std::vector<const RelayView*> entries;
    for (const auto& k : guards)
        if (const auto* v = find(relays, k); v && !v->failed && v->record->is_entry()) entries.push_back(v);
    // An entry that no exit (or middle) can follow is dropped and another tried.
    while (!entries.empty()) {
        const RelayView* entry = pick_entry(rng, entries);
        std::vector<const RelayView*> exits, fresh_exits;
        for (const auto& v : relays) {
            if (v.failed || !v.record->is_exit()) continue;
            if (!rules.exit_region.empty() && v.record->region != rules.exit_region) continue;
            if (!may_share_path(*v.record, *entry->record, rules.allow_same_network)) continue;
            exits.push_back(&v);
            if (!v.exit_in_use) fresh_exits.push_back(&v);
        }
        // An exit that no middle can join (3 hops) is set aside and another
        // tried, one at a time: checking every exit first would cost
        // exits x relays for every circuit.
        while (!exits.empty()) {
            const RelayView* exit = pick_view(rng, fresh_exits.empty() ? exits : fresh_exits);
            if (rules.hops < 3) return {entry->record, exit->record};
            std::vector<const RelayView*> middles;
            for (const auto& v : relays)
                if (!v.failed && may_share_path(*v.record, *entry->record, rules.allow_same_network) &&
                    may_share_path(*v.record, *exit->record, rules.allow_same_network))
                    middles.push_back(&v);
            if (!middles.empty()) return {entry->record, pick_view(rng, middles)->record, exit->record};
            std::erase(exits, exit);
            std::erase(fresh_exits, exit);
        }
        std::erase(entries, entry);
    }
    return {};
}

}  // namespace conet::proxy
