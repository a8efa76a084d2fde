#pragma once
/// What `conet devnet` (runs a network) and `conet testnet` (writes one to
/// start by hand) both lay out on loopback: wallets, free ports, node
/// directories.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "conet/crypto/keys.hpp"
#include "conet/ledger/state.hpp"
#include "conet/node/config.hpp"
#include "conet/util/result.hpp"
#include "conet/util/rng.hpp"

namespace conet::app {

inline constexpr std::uint64_t conet_unit = ledger::base_units_per_conet;
/// What every wallet of a local network starts with.
inline constexpr std::uint64_t initial_balance = 1'000 * conet_unit;

/// A keystore at FILE with a new key (light scrypt: throwaway wallets); kept when it exists.
util::Result<void, std::string> make_wallet(const std::filesystem::path& file, const std::string& password,
                                            util::Rng& rng);
util::Result<crypto::Address, std::string> wallet_address(const std::filesystem::path& file,
                                                          const std::string& password);
/// `n` distinct TCP ports on 127.0.0.1 that were free a moment ago (each
/// validator must know every other's consensus port before any starts).
util::Result<std::vector<std::uint16_t>, std::string> free_ports(std::size_t n);
/// `port` when nothing listens on 127.0.0.1:port now, else 0 (a free port).
std::uint16_t port_if_free(std::uint16_t port);
/// Writes DIR/node.toml for this run (ports change between runs); the node's
/// Noise key is made once and kept.
util::Result<void, std::string> write_node_dir(const std::filesystem::path& node_dir, const node::NodeConfig& config,
                                               util::Rng& rng);

}  // namespace conet::app
