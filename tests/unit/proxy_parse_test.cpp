#include <gtest/gtest.h>

#include "conet/proxy/http.hpp"
#include "conet/proxy/socks.hpp"

namespace conet::proxy {
namespace {

util::Bytes b(std::initializer_list<int> v) {
    util::Bytes out;
    for (int x : v) out.push_back(static_cast<std::uint8_t>(x));
    return out;
}

/// Every strict prefix of a complete message is "incomplete", never an error.
template <class F>
void expect_prefixes_incomplete(const util::Bytes& full, F parse) {
    for (std::size_t n = 0; n < full.size(); ++n)
        EXPECT_EQ(parse(util::ByteView(full).first(n)).status, ParseStatus::incomplete) << "prefix " << n;
}

TEST(Socks5, GreetingChoosesUserPasswordThenNoAuth) {
    auto g = parse_socks5_greeting(b({5, 2, 0, 2}));
    ASSERT_EQ(g.status, ParseStatus::done);
    EXPECT_EQ(g.consumed, 4u);
    EXPECT_EQ(g.value.choose(), Socks5Method::user_password);
    EXPECT_EQ(parse_socks5_greeting(b({5, 1, 0})).value.choose(), Socks5Method::no_auth);
    EXPECT_EQ(parse_socks5_greeting(b({5, 1, 1})).value.choose(), Socks5Method::none_acceptable);
    EXPECT_EQ(parse_socks5_greeting(b({5, 0})).status, ParseStatus::invalid);
    EXPECT_EQ(parse_socks5_greeting(b({4, 1, 0})).status, ParseStatus::invalid);
    expect_prefixes_incomplete(b({5, 2, 0, 2}), parse_socks5_greeting);
}

TEST(Socks5, ConnectRequestsForDomainIpv4AndIpv6) {
    const auto domain = b({5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x01, 0xbb});
    auto r = parse_socks5_request(domain);
    ASSERT_EQ(r.status, ParseStatus::done);
    EXPECT_EQ(r.value.target.host, "example.com");
    EXPECT_EQ(r.value.target.port, 443);
    EXPECT_EQ(r.consumed, domain.size());
    expect_prefixes_incomplete(domain, parse_socks5_request);

    auto v4 = parse_socks5_request(b({5, 1, 0, 1, 127, 0, 0, 1, 0, 80}));
    ASSERT_EQ(v4.status, ParseStatus::done);
    EXPECT_EQ(v4.value.target.host, "127.0.0.1");
    auto v6 = parse_socks5_request(b({5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80}));
    ASSERT_EQ(v6.status, ParseStatus::done);
    EXPECT_EQ(v6.value.target.host, "::1");
}

TEST(Socks5, UnsupportedCommandsAndAddressTypesCarryTheReplyCode) {
    auto bind = parse_socks5_request(b({5, 2, 0, 1, 1, 2, 3, 4, 0, 80}));
    EXPECT_EQ(bind.status, ParseStatus::invalid);
    EXPECT_EQ(bind.error, "reply:7");
    auto atyp = parse_socks5_request(b({5, 1, 0, 9, 0, 0}));
    EXPECT_EQ(atyp.error, "reply:8");
    EXPECT_EQ(parse_socks5_request(b({5, 1, 0, 3, 3, 'a', ' ', 'b', 0, 80})).status, ParseStatus::invalid);
    EXPECT_EQ(parse_socks5_request(b({5, 1, 0, 1, 1, 2, 3, 4, 0, 0})).status, ParseStatus::invalid);
    EXPECT_EQ(parse_socks5_request(b({5, 1, 1, 1, 1, 2, 3, 4, 0, 80})).status, ParseStatus::invalid);
}

TEST(Socks5, Credentials) {
    const auto c = b({1, 3, 'b', 'o', 'b', 2, 'p', 'w'});
    auto r = parse_socks5_credentials(c);
    ASSERT_EQ(r.status, ParseStatus::done);
    EXPECT_EQ(r.value.username, "bob");
    EXPECT_EQ(r.value.password, "pw");
    expect_prefixes_incomplete(c, parse_socks5_credentials);
    EXPECT_EQ(parse_socks5_credentials(b({2, 0, 0})).status, ParseStatus::invalid);
}

TEST(Socks4, PlainAnd4aRequests) {
    const auto v4 = b({4, 1, 0, 80, 10, 0, 0, 1, 'u', 0});
    auto r = parse_socks4_request(v4);
    ASSERT_EQ(r.status, ParseStatus::done);
    EXPECT_EQ(r.value.target.host, "10.0.0.1");
    EXPECT_EQ(r.value.user, "u");
    expect_prefixes_incomplete(v4, parse_socks4_request);

    const auto v4a = b({4, 1, 0x1f, 0x90, 0, 0, 0, 1, 0, 'h', 'o', 's', 't', 0});
    auto a = parse_socks4_request(v4a);
    ASSERT_EQ(a.status, ParseStatus::done);
    EXPECT_EQ(a.value.target.host, "host");
    EXPECT_EQ(a.value.target.port, 8080);
    expect_prefixes_incomplete(v4a, parse_socks4_request);

    util::Bytes long_user = b({4, 1, 0, 80, 1, 2, 3, 4});
    long_user.insert(long_user.end(), 300, 'x');
    EXPECT_EQ(parse_socks4_request(long_user).status, ParseStatus::invalid);
    EXPECT_EQ(parse_socks4_request(b({4, 2, 0, 80, 1, 2, 3, 4, 0})).status, ParseStatus::invalid);
}

util::Bytes text(std::string_view s) {
    return util::to_bytes(s);
}

TEST(Http, ParsesHeadsAndFindsTheBody) {
    const auto req = text("POST http://h:81/up?x=1 HTTP/1.1\r\nHost: h:81\r\nContent-Length: 3\r\n\r\nabc");
    auto r = parse_http_head(req);
    ASSERT_EQ(r.status, ParseStatus::done);
    EXPECT_EQ(r.value.method, "POST");
    EXPECT_EQ(r.value.target, "http://h:81/up?x=1");
    EXPECT_EQ(r.value.headers.size(), 2u);
    EXPECT_EQ(req.size() - r.consumed, 3u);
    for (std::size_t n = 0; n + 3 < req.size(); ++n)
        EXPECT_EQ(parse_http_head(util::ByteView(req).first(n)).status, ParseStatus::incomplete) << n;
}

TEST(Http, RejectsGarbageOversizedAndMalformedHeads) {
    EXPECT_EQ(parse_http_head(text("\x16\x03\x01garbage")).status, ParseStatus::invalid);
    EXPECT_EQ(parse_http_head(text("GET / HTTP/2\r\n\r\n")).status, ParseStatus::invalid);
    EXPECT_EQ(parse_http_head(text("GET /\r\n\r\n")).status, ParseStatus::invalid);
    EXPECT_EQ(parse_http_head(text("GET / HTTP/1.1\r\nno colon\r\n\r\n")).status, ParseStatus::invalid);
    std::string big = "GET / HTTP/1.1\r\nX: " + std::string(max_http_head_bytes, 'a');
    EXPECT_EQ(parse_http_head(text(big)).status, ParseStatus::invalid);
}

TEST(Http, AuthorityForms) {
    EXPECT_EQ(parse_authority("example.com:443", 0)->port, 443);
    EXPECT_EQ(parse_authority("[::1]:8080", 0)->host, "::1");
    EXPECT_EQ(parse_authority("example.com", 80)->port, 80);
    EXPECT_FALSE(parse_authority("example.com", 0));
    EXPECT_FALSE(parse_authority("example.com:99999", 0));
    EXPECT_FALSE(parse_authority("exa mple.com:80", 0));
    EXPECT_FALSE(parse_authority("[::1:80", 0));
}

TEST(Http, AbsoluteUriIsRewrittenToOriginFormWithoutProxyHeaders) {
    auto r =
        parse_http_head(text("GET http://Example.com:8080/a/b?c HTTP/1.1\r\nHost: Example.com:8080\r\n"
                             "Proxy-Connection: keep-alive\r\nProxy-Authorization: x\r\nAccept: */*\r\n\r\n"));
    ASSERT_EQ(r.status, ParseStatus::done);
    auto f = rewrite_absolute(r.value);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->target.host, "Example.com");
    EXPECT_EQ(f->target.port, 8080);
    EXPECT_EQ(f->head, "GET /a/b?c HTTP/1.1\r\nHost: Example.com:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    auto bare = parse_http_head(text("GET http://h HTTP/1.0\r\n\r\n"));
    EXPECT_EQ(rewrite_absolute(bare.value)->head, "GET / HTTP/1.0\r\nHost: h\r\nConnection: close\r\n\r\n");
    auto https = parse_http_head(text("GET https://h/ HTTP/1.1\r\n\r\n"));
    EXPECT_FALSE(rewrite_absolute(https.value));
}

TEST(HttpDestination, EachRefusalHasItsOwnReason) {
    EXPECT_EQ(parse_authority("[::1", 0).error(), HttpError::bad_authority);
    EXPECT_EQ(parse_authority("[::1]x443", 0).error(), HttpError::bad_authority);
    EXPECT_EQ(parse_authority("example.com:99999", 0).error(), HttpError::bad_port);
    EXPECT_EQ(parse_authority("example.com", 0).error(), HttpError::bad_port);  // CONNECT needs a port
    EXPECT_EQ(parse_authority("exa mple.com:80", 0).error(), HttpError::bad_host);
    auto ok = parse_authority("[::1]:8080", 0);
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(ok->host, "::1");
    EXPECT_EQ(ok->port, 8080);

    HttpRequest req{"GET", "ftp://example.com/", "HTTP/1.1", {}};
    EXPECT_EQ(rewrite_absolute(req).error(), HttpError::not_http);
    req.target = "http://user:secret@example.com/";
    EXPECT_EQ(rewrite_absolute(req).error(), HttpError::credentials_in_uri);
    req.target = "http://example.com:0/";
    EXPECT_EQ(rewrite_absolute(req).error(), HttpError::bad_port);
    req.target = "http://example.com/a?b";
    auto fwd = rewrite_absolute(req);
    ASSERT_TRUE(fwd.has_value());
    EXPECT_EQ(fwd->target.port, 80);
    EXPECT_EQ(fwd->head.substr(0, 20), "GET /a?b HTTP/1.1\r\nH");
}

}  // namespace
}  // namespace conet::proxy
