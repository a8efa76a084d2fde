#include "conet/rpc/jsonrpc.hpp"

#include <gtest/gtest.h>

namespace conet::rpc {
namespace {

Dispatcher make() {
    Dispatcher d;
    d.add("add", [](const json::value& p) -> util::Result<json::value, RpcError> {
        const auto* a = p.if_array();
        if (!a || a->size() != 2 || !a->at(0).is_int64() || !a->at(1).is_int64())
            return util::unexpected(RpcError{invalid_params, "expected [int, int]"});
        return json::value(a->at(0).get_int64() + a->at(1).get_int64());
    });
    return d;
}

json::value call(const Dispatcher& d, std::string_view body) {
    return json::parse(d.handle(body));
}

TEST(JsonRpc, SuccessAndErrorObjectsFollowTheSpec) {
    const auto d = make();
    EXPECT_EQ(call(d, R"({"jsonrpc":"2.0","method":"add","params":[2,3],"id":1})"),
              json::parse(R"({"jsonrpc":"2.0","result":5,"id":1})"));
    EXPECT_EQ(call(d, R"({"jsonrpc":"2.0","method":"add","params":[2],"id":"x"})").at("error").at("code"), -32602);
    EXPECT_EQ(call(d, R"({"jsonrpc":"2.0","method":"nope","id":2})").at("error").at("code"), -32601);
    EXPECT_EQ(call(d, R"({"jsonrpc":"1.0","method":"add","id":3})").at("error").at("code"), -32600);
    EXPECT_EQ(call(d, R"({"jsonrpc":"2.0","method":5,"id":3})").at("error").at("code"), -32600);
    EXPECT_EQ(call(d, R"({"jsonrpc":"2.0","method":"add","params":7,"id":3})").at("error").at("code"), -32600);
    EXPECT_EQ(call(d, R"({"jsonrpc":"2.0","method":"add","id":{"a":1}})").at("error").at("code"), -32600);
    const auto parse = call(d, R"({"jsonrpc": "2.0", "method": )");
    EXPECT_EQ(parse.at("error").at("code"), -32700);
    EXPECT_TRUE(parse.at("id").is_null());
    EXPECT_EQ(call(d, "[]").at("error").at("code"), -32600);
    EXPECT_EQ(call(d, std::string(max_request_bytes + 1, ' ')).at("error").at("code"), -32600);
}

TEST(JsonRpc, BatchesAndNotifications) {
    const auto d = make();
    const auto out = call(d, R"([{"jsonrpc":"2.0","method":"add","params":[1,1],"id":1},
                                 {"jsonrpc":"2.0","method":"add","params":[5,5]},
                                 42,
                                 {"jsonrpc":"2.0","method":"nope","id":3}])");
    ASSERT_TRUE(out.is_array());
    ASSERT_EQ(out.as_array().size(), 3u);  // the notification gets no response
    EXPECT_EQ(out.as_array()[0].at("result"), 2);
    EXPECT_EQ(out.as_array()[1].at("error").at("code"), -32600);
    EXPECT_EQ(out.as_array()[2].at("error").at("code"), -32601);
    EXPECT_EQ(d.handle(R"({"jsonrpc":"2.0","method":"add","params":[1,2]})"), "");
    std::string big = "[";
    for (std::size_t i = 0; i <= max_batch; ++i)
        big += std::string(i ? "," : "") + R"({"jsonrpc":"2.0","method":"add","params":[1,1],"id":1})";
    EXPECT_EQ(call(d, big + "]").at("error").at("code"), -32600);
}

TEST(JsonRpc, ANumberJsonCannotCarryBackIsAParseErrorAndTheAnswerIsJson) {
    // Boost.JSON reads 1e777 as infinity and would write it as `Infinity` (found by fuzz_rpc).
    const auto d = make();
    for (const char* body : {R"({"jsonrpc":"2.0","method":"add","params":[1e777,1],"id":1})",
                             R"([{"jsonrpc":"2.0","method":"add","params":{"a":-1e999},"id":1}])"}) {
        const std::string out = d.handle(body);
        boost::system::error_code ec;
        const json::value v = json::parse(out, ec);
        ASSERT_FALSE(ec) << out;
        EXPECT_EQ(v.at("error").at("code"), -32700) << out;
    }
}

}  // namespace
}  // namespace conet::rpc
