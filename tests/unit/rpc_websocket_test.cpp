// The RPC server's WebSocket side, driven in one io_context by a Beast client
// coroutine: no clocks, the order of events is fixed by the test.
#include <gtest/gtest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "conet/rpc/server.hpp"

namespace conet::rpc {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using net::awaitable;
using net::use_nothrow;

struct Harness {
    asio::io_context io;
    Dispatcher dispatcher;
    util::Limits limits;
    std::unique_ptr<HttpServer> server;
    net::tcp::endpoint at;

    explicit Harness(std::uint64_t max_outbox_bytes) {
        dispatcher.add("ping",
                       [](const json::value&) -> util::Result<json::value, RpcError> { return json::value("pong"); });
        dispatcher.add("blob", [](const json::value&) -> util::Result<json::value, RpcError> {
            return json::value(std::string(10'000, 'b'));
        });
        limits.ws_max_outbox_bytes = max_outbox_bytes;
        server = std::make_unique<HttpServer>(io, dispatcher, limits);
        auto bound = server->start({asio::ip::make_address("127.0.0.1"), 0});
        EXPECT_TRUE(bound);
        at = *bound;
    }

    /// Runs `client` against the server until it returns.
    void run(std::function<awaitable<void>(websocket::stream<beast::tcp_stream>&)> client) {
        asio::co_spawn(
            io,
            [this, client]() -> awaitable<void> {
                websocket::stream<beast::tcp_stream> ws(io);
                auto [cec] = co_await beast::get_lowest_layer(ws).async_connect(at, use_nothrow);
                EXPECT_FALSE(cec);
                auto [hec] = co_await ws.async_handshake("127.0.0.1", "/", use_nothrow);
                EXPECT_FALSE(hec);
                if (!cec && !hec) co_await client(ws);
                server->stop();
            },
            asio::detached);
        io.run();
    }
};

awaitable<json::value> ask(websocket::stream<beast::tcp_stream>& ws, std::string_view request) {
    co_await ws.async_write(asio::buffer(request), use_nothrow);
    beast::flat_buffer buf;
    auto [ec, n] = co_await ws.async_read(buf, use_nothrow);
    if (ec) co_return json::value(nullptr);
    co_return json::parse(beast::buffers_to_string(buf.data()));
}

TEST(RpcWebSocket, SubscribersGetPublishedResultsAndOthersDoNot) {
    Harness h(64 * 1024);
    h.run([&](websocket::stream<beast::tcp_stream>& ws) -> awaitable<void> {
        auto pong = co_await ask(ws, R"({"jsonrpc":"2.0","method":"ping","id":1})");
        EXPECT_EQ(pong.at("result"), "pong");
        h.server->publish("newHeads", json::value(1));  // not subscribed yet: nothing is sent
        auto sub = co_await ask(ws, R"({"jsonrpc":"2.0","method":"conet_subscribe","params":["newHeads"],"id":2})");
        const json::value id = sub.at("result");
        EXPECT_EQ(h.server->subscribers(), 1u);
        h.server->publish("otherTopic", json::value(2));
        h.server->publish("newHeads", json::value(3));
        beast::flat_buffer buf;
        auto [ec, n] = co_await ws.async_read(buf, use_nothrow);
        EXPECT_FALSE(ec);
        const auto note = json::parse(beast::buffers_to_string(buf.data()));
        EXPECT_EQ(note.at("method"), "conet_subscription");
        EXPECT_EQ(note.at("params").at("subscription"), id);
        EXPECT_EQ(note.at("params").at("result"), 3);
    });
}

/// Reads notifications until `limit` arrived or the connection ends; returns how many arrived.
awaitable<std::size_t> read_until_closed(websocket::stream<beast::tcp_stream>& ws, std::size_t limit, bool& closed) {
    std::size_t received = 0;
    closed = false;
    while (received < limit) {
        beast::flat_buffer buf;
        auto [ec, n] = co_await ws.async_read(buf, use_nothrow);
        if (ec) {
            closed = true;
            break;
        }
        ++received;
    }
    co_return received;
}

const std::string big_payload(1000, 'x');  // each notification costs a little over 1 KB queued

TEST(RpcWebSocket, ASubscriberThatFallsBehindByMoreThanItsByteBudgetIsCutOff) {
    Harness h(4000);  // room for three notifications, never for ten
    h.run([&](websocket::stream<beast::tcp_stream>& ws) -> awaitable<void> {
        auto sub = co_await ask(ws, R"({"jsonrpc":"2.0","method":"conet_subscribe","params":["newHeads"],"id":1})");
        EXPECT_TRUE(sub.at("result").is_string());
        // Within the budget: every notification arrives and the socket stays open.
        for (int i = 0; i < 3; ++i) h.server->publish("newHeads", json::value(big_payload));
        bool closed = false;
        EXPECT_EQ(co_await read_until_closed(ws, 3, closed), 3u);
        EXPECT_FALSE(closed);
        EXPECT_EQ(h.server->subscribers(), 1u);
        // The server's writer cannot run between these calls: its queue passes the budget.
        for (int i = 0; i < 10; ++i) h.server->publish("newHeads", json::value(big_payload));
        const std::size_t received = co_await read_until_closed(ws, 10, closed);
        EXPECT_TRUE(closed);      // cut off, not buffered ...
        EXPECT_LT(received, 4u);  // ... and never sent more than the budget held
        EXPECT_EQ(h.server->subscribers(), 0u);
        EXPECT_EQ(h.server->stats().ws_cut_off, 1u);
    });
}

TEST(RpcWebSocket, TheOutboxCountsBytesNotMessages) {
    Harness h(4000);
    h.run([&](websocket::stream<beast::tcp_stream>& ws) -> awaitable<void> {
        auto sub = co_await ask(ws, R"({"jsonrpc":"2.0","method":"conet_subscribe","params":["newHeads"],"id":1})");
        EXPECT_TRUE(sub.at("result").is_string());
        h.server->publish("newHeads", json::value(1));  // small: delivered
        bool closed = false;
        EXPECT_EQ(co_await read_until_closed(ws, 1, closed), 1u);
        EXPECT_FALSE(closed);
        // One message, but more bytes than the budget: the subscriber is cut off.
        h.server->publish("newHeads", json::value(std::string(5000, 'y')));
        EXPECT_EQ(co_await read_until_closed(ws, 1, closed), 0u);
        EXPECT_TRUE(closed);
        EXPECT_EQ(h.server->subscribers(), 0u);
    });
}

TEST(RpcWebSocket, AClientThatAsksWithoutReadingIsCutOff) {
    Harness h(64 * 1024);
    h.run([&](websocket::stream<beast::tcp_stream>& ws) -> awaitable<void> {
        // Requests whose 10 KB answers pile up unread: once the socket buffers
        // are full, the server closes at the byte budget instead of queuing
        // more answers (10,000 answers are far more than any socket buffers).
        const std::string request = R"({"jsonrpc":"2.0","method":"blob","id":1})";
        bool write_failed = false;
        for (int i = 0; i < 10'000 && !write_failed; ++i) {
            auto [ec, n] = co_await ws.async_write(asio::buffer(request), use_nothrow);
            write_failed = static_cast<bool>(ec);
            if (h.server->stats().ws_cut_off > 0) break;
        }
        EXPECT_EQ(h.server->stats().ws_cut_off, 1u);
    });
}

}  // namespace
}  // namespace conet::rpc
