#include "conet/app/local_network.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "conet/crypto/keystore.hpp"
#include "conet/node/relay_node.hpp"
#include "conet/util/file.hpp"

namespace conet::app {

namespace fs = std::filesystem;

util::Result<void, std::string> make_wallet(const fs::path& file, const std::string& password, util::Rng& rng) {
    if (fs::exists(file)) return {};
    auto key = crypto::PrivateKey::generate(rng);
    auto doc = crypto::encrypt_keystore(key, password, crypto::ScryptParams::light(), rng);
    if (!doc) return util::unexpected(file.string() + ": " + std::string(crypto::describe(doc.error())));
    auto w = util::write_file_atomic(file, util::as_bytes(*doc), 0600, util::Overwrite::no);
    if (!w) return util::unexpected(w.error().message());
    return {};
}

util::Result<crypto::Address, std::string> wallet_address(const fs::path& file, const std::string& password) {
    auto text = util::read_file(file, crypto::keystore_max_bytes);
    if (!text) return util::unexpected(file.string() + ": " + text.error().message());
    auto key = crypto::decrypt_keystore(*text, password);
    if (!key) return util::unexpected(file.string() + ": " + std::string(crypto::describe(key.error())));
    return key->address();
}

util::Result<std::vector<std::uint16_t>, std::string> free_ports(std::size_t n) {
    boost::asio::io_context io;
    std::vector<boost::asio::ip::tcp::acceptor> held;
    std::vector<std::uint16_t> ports;
    for (std::size_t i = 0; i < n; ++i) {
        boost::system::error_code ec;
        boost::asio::ip::tcp::acceptor a(io);
        a.open(boost::asio::ip::tcp::v4(), ec);
        if (!ec) a.bind({boost::asio::ip::make_address("127.0.0.1"), 0}, ec);
        if (ec) return util::unexpected("cannot find a free port on 127.0.0.1: " + ec.message());
        ports.push_back(a.local_endpoint().port());
        held.push_back(std::move(a));  // held until all are chosen, so they differ
    }
    return ports;
}

std::uint16_t port_if_free(std::uint16_t port) {
    boost::asio::io_context io;
    boost::system::error_code ec;
    boost::asio::ip::tcp::acceptor a(io);
    a.open(boost::asio::ip::tcp::v4(), ec);
    if (!ec) a.set_option(boost::asio::socket_base::reuse_address(true), ec);  // as the servers bind
    if (!ec) a.bind({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec) a.listen(1, ec);
    return ec ? 0 : port;
}

util::Result<void, std::string> write_node_dir(const fs::path& node_dir, const node::NodeConfig& config,
                                               util::Rng& rng) {
    if (!fs::exists(node_dir / node::noise_key_file_name)) {
        std::error_code ec;
        fs::remove(node_dir / node::config_file_name, ec);
        return node::init_node_dir(node_dir, config, rng);
    }
    const std::string text = node::annotated_config(config);
    auto w =
        util::write_file_atomic(node_dir / node::config_file_name, util::as_bytes(text), 0600, util::Overwrite::yes);
    if (!w) return util::unexpected(w.error().message());
    return {};
}

}  // namespace conet::app
