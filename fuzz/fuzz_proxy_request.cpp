// The proxy's request parsers (SOCKS5 greeting/credentials/request, SOCKS4/4a,
// HTTP head, authority and absolute-URI rewrite): arbitrary bytes must never
// crash, and a "done" parse never claims more bytes than it was given.

#include <cstdlib>

#include "conet/proxy/http.hpp"
#include "conet/proxy/socks.hpp"

namespace {
template <class T>
void check(const conet::proxy::Parsed<T>& p, std::size_t size) {
    if (p.status == conet::proxy::ParseStatus::done && (p.consumed == 0 || p.consumed > size)) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace conet::proxy;
    const conet::util::ByteView in(data, size);
    check(parse_socks5_greeting(in), size);
    check(parse_socks5_credentials(in), size);
    check(parse_socks5_request(in), size);
    check(parse_socks4_request(in), size);
    auto head = parse_http_head(in);
    check(head, size);
    if (head.status == ParseStatus::done) {
        (void)parse_authority(head.value.target, 0);
        auto fwd = rewrite_absolute(head.value);
        if (fwd && !conet::net::valid_host(fwd->target.host)) std::abort();
    }
    return 0;
}
