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
    ServerLimits limits;
    std::unique_ptr<HttpServer> server;
    net::tcp::endpoint at;

    explicit Harness(std::size_t max_queued) {
        dispatcher.add("ping",
                       [](const json::value&) -> util::Result<json::value, RpcError> { return json::value("pong"); });
        limits.max_queued_messages = max_queued;
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
    Harness h(64);
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

TEST(RpcWebSocket, ASubscriberThatFallsBehindIsDisconnected) {
    Harness h(4);
    h.run([&](websocket::stream<beast::tcp_stream>& ws) -> awaitable<void> {
        auto sub = co_await ask(ws, R"({"jsonrpc":"2.0","method":"conet_subscribe","params":["newHeads"],"id":1})");
        EXPECT_TRUE(sub.at("result").is_string());
        // The server's writer cannot run between these calls: its queue overflows.
        for (int i = 0; i < 10; ++i) h.server->publish("newHeads", json::value(i));
        std::size_t received = 0;
        for (;;) {
            beast::flat_buffer buf;
            auto [ec, n] = co_await ws.async_read(buf, use_nothrow);
            if (ec) break;
            ++received;
        }
        EXPECT_LE(received, 4u);  // never more than the queue held, and then the connection ends
        EXPECT_EQ(h.server->subscribers(), 0u);
    });
}

}  // namespace
}  // namespace conet::rpc
