#include "conet/relay/exit_core.hpp"

#include <algorithm>

#include "conet/util/assert.hpp"

namespace conet::relay {

using net::EndReason;
using Kind = BeginDecision::Kind;

BeginDecision ExitOpenings::on_begin(std::uint32_t id, util::ByteView body, const ExitCapacity& capacity,
                                     bool stream_in_use, std::size_t live_streams) {
    if (id == 0 || stream_in_use || opening(id)) return {Kind::protocol_error, {}, EndReason::protocol_error, {}};
    if (!capacity.exit_enabled) return {Kind::refuse, {}, EndReason::exit_policy, "not_an_exit"};
    if (capacity.paid == MeterVerdict::balance_exhausted)
        return {Kind::refuse, {}, EndReason::balance_exhausted, "balance_exhausted"};
    if (capacity.paid != MeterVerdict::ok) return {Kind::refuse, {}, EndReason::payment_required, "payment_required"};
    if (live_streams + m_opening.size() >= m_max_streams)
        return {Kind::refuse, {}, EndReason::resource_limit, "streams_per_circuit"};
    if (capacity.process_full) return {Kind::refuse, {}, EndReason::resource_limit, "exit_streams"};
    auto target = net::decode_target(body);
    if (!target) return {Kind::refuse, {}, EndReason::protocol_error, "bad_target"};
    m_opening.insert(id);
    return {Kind::open, std::move(*target), EndReason::misc, {}};
}

bool ExitOpenings::on_reset(std::uint32_t id) {
    if (!opening(id)) return false;
    m_cancelled.insert(id);
    return true;
}

OpenAnswer ExitOpenings::on_open_result(std::uint32_t id, std::optional<EndReason> failure) {
    CONET_ASSERT(opening(id));
    m_opening.erase(id);
    const bool cancelled = m_cancelled.erase(id) != 0;
    CONET_ASSERT(std::includes(m_opening.begin(), m_opening.end(), m_cancelled.begin(), m_cancelled.end()));
    if (cancelled) return {false, failure.value_or(EndReason::done)};
    if (failure) return {false, *failure};
    return {true, EndReason::done};
}

}  // namespace conet::relay
