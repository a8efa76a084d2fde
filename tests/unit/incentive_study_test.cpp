// The adversarial study (sim/incentive_study.hpp) on a small population: it
// runs the real ledger, every strategy is present, a node that never serves
// earns nothing whatever its friends report, and no dishonest strategy earns
// as much per unit of cost as honest service. (CI runs the full study, 1,000
// nodes over 100 epochs, with `conet study`.)
#include "conet/sim/incentive_study.hpp"

#include <gtest/gtest.h>

namespace conet::sim {
namespace {

TEST(IncentiveStudy, DishonestStrategiesEarnLessPerUnitOfCostThanHonestService) {
    StudyOptions o;
    o.nodes = 200;
    o.epochs = 6;
    o.validators = 7;
    std::uint64_t last = 0;
    o.progress = [&last](std::uint64_t e, std::uint64_t) { last = e; };
    const StudyResult r = run_incentive_study(o);
    EXPECT_EQ(last, 6u);
    EXPECT_EQ(r.nodes, 200u);
    ASSERT_EQ(r.strategies.size(), 7u);
    EXPECT_GT(r.honest_per_cost, 1.0) << r.table();
    for (const auto& s : r.strategies) {
        EXPECT_GT(s.nodes, 0u) << s.name;
        EXPECT_GT(s.cost, 0) << s.name;
        if (!s.honest) {
            EXPECT_LT(s.per_cost(), r.honest_per_cost) << s.name << "\n" << r.table();
        }
        if (s.name.starts_with("offline") || s.name.starts_with("a prober that lies")) {
            EXPECT_EQ(s.earned, 0) << s.name;
        }
    }
    EXPECT_TRUE(r.violations.empty()) << r.table();
    // The same seed gives the same table.
    o.progress = nullptr;
    EXPECT_EQ(run_incentive_study(o).table(), r.table());
}

}  // namespace
}  // namespace conet::sim
