// The dashboards' files and the rules they are served by (docs/web.md).

#include "conet/web/web.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace conet::web {
namespace {

constexpr Page all_pages[] = {Page::user, Page::operator_, Page::explorer};

TEST(WebAssets, EachPageIsServedAtTheRootWithItsOwnScriptAndTheSharedFiles) {
    const auto* user = find(Page::user, "/");
    ASSERT_NE(user, nullptr);
    EXPECT_EQ(user->content_type, "text/html; charset=utf-8");
    EXPECT_NE(user->body.find("<title>CONET proxy</title>"), std::string_view::npos);
    const auto* explorer = find(Page::explorer, "/index.html?x=1");
    ASSERT_NE(explorer, nullptr);
    EXPECT_NE(explorer->body.find("CONET explorer"), std::string_view::npos);
    const auto* js = find(Page::operator_, "/assets/operator.js");
    ASSERT_NE(js, nullptr);
    EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
    EXPECT_NE(find(Page::operator_, "/assets/common.css"), nullptr);
    EXPECT_NE(find(Page::operator_, "/assets/common.js#frag"), nullptr);
}

TEST(WebAssets, AnotherPagesFilesTraversalAndUnknownPathsAreNotServed) {
    EXPECT_EQ(find(Page::user, "/assets/explorer.js"), nullptr);
    EXPECT_EQ(find(Page::explorer, "/assets/operator.js"), nullptr);
    EXPECT_EQ(find(Page::user, "/assets/user.html"), nullptr);  // a page only at "/"
    EXPECT_EQ(find(Page::user, "/assets/../user.js"), nullptr);
    EXPECT_EQ(find(Page::user, "/assets/"), nullptr);
    EXPECT_EQ(find(Page::user, "/status.html"), nullptr);
    EXPECT_EQ(find(Page::user, ""), nullptr);
    EXPECT_EQ(find(Page::user, "assets/user.js"), nullptr);
}

// The CSP below forbids inline scripts, inline styles and event-handler
// attributes: a page that used one would break in the browser.
TEST(WebAssets, PagesUseOnlyTheirOwnFilesAndNothingTheCspForbids) {
    const std::regex ref(R"re((?:src|href)="([^"]*)")re");
    const std::regex inline_script(R"re(<script(?![^>]*\ssrc=)[^>]*>)re");
    const std::regex handler(R"re(\son[a-z]+\s*=)re");
    for (const Page page : all_pages) {
        const auto* html = find(page, "/");
        ASSERT_NE(html, nullptr);
        const std::string text(html->body);
        std::size_t refs = 0;
        for (auto it = std::sregex_iterator(text.begin(), text.end(), ref); it != std::sregex_iterator(); ++it) {
            ++refs;
            const std::string target = (*it)[1];
            EXPECT_TRUE(target.starts_with("/assets/")) << target << ": not the page's own origin";
            EXPECT_NE(find(page, target), nullptr) << target << " is referenced but not served";
        }
        EXPECT_EQ(refs, 4u);  // common.css, the icon, common.js, the page's script
        EXPECT_FALSE(std::regex_search(text, inline_script)) << "inline <script>";
        EXPECT_EQ(text.find("style="), std::string::npos) << "inline style attribute";
        EXPECT_EQ(text.find("<style"), std::string::npos) << "inline <style>";
        EXPECT_FALSE(std::regex_search(text, handler)) << "event-handler attribute";
    }
    const auto* css = find(Page::user, "/assets/common.css");
    ASSERT_NE(css, nullptr);
    EXPECT_EQ(css->body.find("url("), std::string_view::npos) << "fonts or images from elsewhere";
    EXPECT_EQ(css->body.find("@import"), std::string_view::npos);
}

TEST(WebHeaders, TheCspAllowsOnlyTheOwnOriginPlusWhatIsNamed) {
    const std::string csp = content_security_policy();
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
    EXPECT_NE(csp.find("script-src 'self';"), std::string::npos);
    EXPECT_NE(csp.find("connect-src 'self';"), std::string::npos);
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_EQ(csp.find("unsafe"), std::string::npos);
    const std::string with_rpc = content_security_policy("http://127.0.0.1:8545 ws://127.0.0.1:8545");
    EXPECT_NE(with_rpc.find("connect-src 'self' http://127.0.0.1:8545 ws://127.0.0.1:8545;"), std::string::npos);
    const std::string headers = security_headers();
    EXPECT_NE(headers.find("Content-Security-Policy: " + csp + "\r\n"), std::string::npos);
    EXPECT_NE(headers.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos);
    EXPECT_NE(headers.find("X-Frame-Options: DENY\r\n"), std::string::npos);
    EXPECT_NE(headers.find("Cache-Control: no-store\r\n"), std::string::npos);
    EXPECT_TRUE(headers.ends_with("\r\n"));
    // The fields servers set one by one are the same headers.
    std::string joined;
    for (const auto& [name, value] : security_header_fields()) joined += name + ": " + value + "\r\n";
    EXPECT_EQ(joined, headers);
}

TEST(WebHosts, LoopbackTheConnectedAddressAndConfiguredNamesAreAllowed) {
    for (const char* h : {"127.0.0.1", "127.0.0.1:1080", "localhost", "LOCALHOST:8545", "[::1]", "[::1]:80"})
        EXPECT_TRUE(host_allowed(h, "")) << h;
    EXPECT_TRUE(host_allowed("10.1.2.3:8545", "10.1.2.3"));
    EXPECT_TRUE(host_allowed("[fd00::5]:8545", "fd00::5"));
    const std::vector<std::string> names{"node.example"};
    EXPECT_TRUE(host_allowed("Node.Example:443", "", names));
}

TEST(WebHosts, RebindingNamesAndMalformedHostsAreRefused) {
    const std::vector<std::string> names{"node.example"};
    for (const char* h : {"evil.example", "evil.example:8545", "localhost.evil.example", "node.example.evil",
                          "127.0.0.1.nip.io", "127.0.0.2", "::1", "[::1", "[::1]x", "127.0.0.1:", "127.0.0.1:8545x",
                          "127.0.0.1:123456", "", ":80", "[]:80"})
        EXPECT_FALSE(host_allowed(h, "10.1.2.3", names)) << h;
    EXPECT_FALSE(host_allowed("10.1.2.3", ""));  // an address the client did not connect to
}

}  // namespace
}  // namespace conet::web
