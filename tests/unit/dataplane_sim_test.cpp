// The data-plane simulator (sim/dataplane): seeds pass, every scenario it
// claims to cover actually happens, and a run is a function of its seed.

#include <gtest/gtest.h>

#include "conet/sim/dataplane.hpp"

namespace conet::sim {
namespace {

TEST(DataplaneSim, SeedsPassAndCoverFaultsHostilityAndFlowControl) {
    DataplaneResult sum;
    // Seeds chosen to include relay crashes, link breaks, lossy links and each
    // of the hostile user's attacks (3 s of faults each): a forged cell (2),
    // stream credit for bytes never sent (8), data past its windows (18).
    for (std::uint64_t seed : {2, 8, 18}) {
        DataplaneOptions o;
        o.seed = seed;
        o.fault_seconds = 3;
        const DataplaneResult r = run_dataplane(o);
        ASSERT_TRUE(r.passed) << "seed " << seed << ": " << r.failure << " (" << r.scenario << ")";
        EXPECT_EQ(r.hostile_destroyed, 1u)
            << "seed " << seed << ": the attack cost the hostile user its circuit (" << r.scenario << ")";
        sum.circuits_built += r.circuits_built;
        sum.streams_completed += r.streams_completed;
        sum.streams_failed += r.streams_failed;
        sum.bytes_delivered += r.bytes_delivered;
        sum.sendmes += r.sendmes;
        sum.stream_window_stalls += r.stream_window_stalls;
        sum.link_breaks += r.link_breaks;
        sum.retransmits += r.retransmits;
        sum.relay_crashes += r.relay_crashes;
        sum.hostile_destroyed += r.hostile_destroyed;
    }
    EXPECT_GT(sum.circuits_built, 0u);
    EXPECT_GT(sum.streams_completed, 0u);
    EXPECT_GT(sum.streams_failed, 0u);
    EXPECT_GT(sum.bytes_delivered, 16u << 20) << "streams past the windows need SENDMEs";
    EXPECT_GT(sum.sendmes, 0u);
    EXPECT_GT(sum.stream_window_stalls, 0u) << "a download past its stream window waits for a stream SENDME";
    EXPECT_GT(sum.link_breaks, 0u);
    EXPECT_GT(sum.retransmits, 0u);
    EXPECT_GT(sum.relay_crashes, 0u);
    EXPECT_GT(sum.hostile_destroyed, 0u);
}

TEST(DataplaneSim, ARunIsAFunctionOfItsSeed) {
    DataplaneOptions o;
    o.seed = 5;
    o.fault_seconds = 2;
    const auto a = run_dataplane(o);
    const auto b = run_dataplane(o);
    ASSERT_TRUE(a.passed) << a.failure;
    EXPECT_EQ(a.trace_hash, b.trace_hash);
    EXPECT_EQ(a.cells, b.cells);
    o.seed = 6;
    EXPECT_NE(run_dataplane(o).trace_hash, a.trace_hash);
}

}  // namespace
}  // namespace conet::sim
