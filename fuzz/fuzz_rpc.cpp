// JSON-RPC request handling: arbitrary bodies through the dispatcher (with a
// few registered methods) must never crash and must always answer valid JSON
// (or nothing, for notifications).

#include <cstdlib>

#include "conet/rpc/jsonrpc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace conet::rpc;
    static const Dispatcher dispatcher = [] {
        Dispatcher d;
        d.add("echo", [](const json::value& p) -> conet::util::Result<json::value, RpcError> { return p; });
        d.add("fail", [](const json::value&) -> conet::util::Result<json::value, RpcError> {
            return conet::util::unexpected(RpcError{invalid_params, "no"});
        });
        return d;
    }();
    const std::string out = dispatcher.handle(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!out.empty()) {
        boost::system::error_code ec;
        (void)json::parse(out, ec);
        if (ec) std::abort();
    }
    return 0;
}
