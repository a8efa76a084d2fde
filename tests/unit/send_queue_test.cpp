#include "conet/net/send_queue.hpp"

#include <gtest/gtest.h>

#include "conet/net/cell.hpp"

namespace conet::net {
namespace {

util::Bytes data_cell(std::uint32_t circuit, std::size_t body_bytes, std::uint8_t fill = 0) {
    return encode_cell(circuit, CellCommand::relay, util::Bytes(body_bytes, fill));
}

std::uint32_t circuit_of(const util::Bytes& cell) {
    return decode_cell(cell).value().circuit_id;
}

TEST(SendQueue, HandsOutOneCellPerCircuitInTurn) {
    SendQueue q(1 << 20, 1 << 20);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.push(data_cell(1, 10)));
    ASSERT_TRUE(q.push(data_cell(2, 10)));
    ASSERT_TRUE(q.push(data_cell(3, 10)));
    std::vector<std::uint32_t> order;
    while (auto c = q.pop()) order.push_back(circuit_of(*c));
    EXPECT_EQ(order, (std::vector<std::uint32_t>{1, 2, 3, 1, 1}));
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.cost(), 0u);
}

TEST(SendQueue, CountsWhatACellHoldsNotItsPayload) {
    SendQueue q(1 << 20, 1 << 20);
    util::Bytes cell = data_cell(5, 1);
    cell.reserve(64 * 1024);  // a one-byte cell in a 64 KiB buffer
    const std::size_t expected = cell.capacity() + cell_bookkeeping_bytes;
    ASSERT_TRUE(q.push(std::move(cell)));
    EXPECT_EQ(q.cost(), expected);
    EXPECT_EQ(q.circuit_cost(5), expected);
    EXPECT_GE(q.cost(), 64u * 1024);
}

TEST(SendQueue, CircuitOverItsCapIsDroppedAndReportedOnceTheOthersStay) {
    const std::size_t cell_cost = queued_cost(data_cell(1, 1000));
    SendQueue q(100 * cell_cost, 10 * cell_cost);
    ASSERT_TRUE(q.push(data_cell(2, 1000)));
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(q.push(data_cell(1, 1000)));
    EXPECT_TRUE(q.take_overflowed().empty());
    EXPECT_FALSE(q.push(data_cell(1, 1000)));  // the 11th passes the cap
    EXPECT_EQ(q.take_overflowed(), (std::vector<std::uint32_t>{1}));
    EXPECT_TRUE(q.take_overflowed().empty());
    EXPECT_EQ(q.circuit_cost(1), 0u);
    EXPECT_EQ(q.circuit_cost(2), cell_cost);
    EXPECT_FALSE(q.link_overflow());
    // Until the owner destroys circuit 1, its cells are dropped; its DESTROY goes out.
    EXPECT_FALSE(q.push(data_cell(1, 10)));
    const std::uint8_t reason = 9;
    EXPECT_TRUE(q.push(encode_cell(1, CellCommand::destroy, util::ByteView(&reason, 1))));
    EXPECT_TRUE(q.push(data_cell(1, 10)));  // a new circuit may reuse the id
    std::vector<std::uint32_t> order;
    while (auto c = q.pop()) order.push_back(circuit_of(*c));
    EXPECT_EQ(order, (std::vector<std::uint32_t>{2, 1, 1}));
}

TEST(SendQueue, FullQueueDropsTheBiggestCircuitNotTheLink) {
    const std::size_t cell_cost = queued_cost(data_cell(1, 1000));
    SendQueue q(20 * cell_cost, 15 * cell_cost);
    for (int i = 0; i < 12; ++i) ASSERT_TRUE(q.push(data_cell(7, 1000)));  // the hog
    for (std::uint32_t c = 100; c < 108; ++c) ASSERT_TRUE(q.push(data_cell(c, 1000)));
    EXPECT_TRUE(q.take_overflowed().empty());
    ASSERT_TRUE(q.push(data_cell(200, 1000)));  // 21 cells: over the link's 20
    EXPECT_EQ(q.take_overflowed(), (std::vector<std::uint32_t>{7}));
    EXPECT_FALSE(q.link_overflow());
    EXPECT_EQ(q.cost(), 9 * cell_cost);
    for (std::uint32_t c = 100; c < 108; ++c) EXPECT_EQ(q.circuit_cost(c), cell_cost);
}

TEST(SendQueue, OnlyControlCellsOverTheLimitOverflowTheLink) {
    const std::size_t ping_cost = queued_cost(encode_cell(0, CellCommand::ping, {}));
    SendQueue q(3 * ping_cost, 3 * ping_cost);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.push(encode_cell(0, CellCommand::ping, {})));
    EXPECT_FALSE(q.link_overflow());
    q.push(encode_cell(0, CellCommand::pong, {}));
    EXPECT_TRUE(q.link_overflow());
}

TEST(SendQueue, ClearForgetsEverything) {
    SendQueue q(1 << 20, 1 << 10);
    for (int i = 0; i < 5; ++i) q.push(data_cell(3, 500));
    ASSERT_FALSE(q.take_overflowed().empty());
    q.push(data_cell(4, 10));
    q.clear();
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.cost(), 0u);
    EXPECT_TRUE(q.push(data_cell(3, 10)));  // no longer marked as overflowed
    EXPECT_FALSE(q.pop() == std::nullopt);
}

}  // namespace
}  // namespace conet::net
