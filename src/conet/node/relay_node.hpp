#pragma once
/// NodeContext for the relay role: what `conet node init|record|run` need.

#include <filesystem>
#include <optional>

#include "conet/crypto/keys.hpp"
#include "conet/crypto/sodium.hpp"
#include "conet/node/config.hpp"

namespace conet::node {

/// Creates DIR (0700) with node.toml and a fresh X25519 static key (0600).
util::Result<void, std::string> init_node_dir(const std::filesystem::path& dir, const NodeConfig& config,
                                              util::Rng& rng);
util::Result<crypto::X25519KeyPair, std::string> load_noise_key(const std::filesystem::path& dir);

/// This node's record from its config, signed by the operator wallet.
ledger::NodeRecord make_record(const NodeConfig& config, const crypto::X25519Public& noise_key,
                               const crypto::PrivateKey& wallet, std::uint64_t now_unix);

/// Runs the relay until SIGINT/SIGTERM. Prints "relay listening on HOST:PORT"
/// (and "metrics on HOST:PORT") once ready. Returns the exit code.
/// With `config.validator`, `wallet` is the validator key and the node also
/// produces blocks (DIR/chain holds the block store) and serves JSON-RPC.
int run_relay(const std::filesystem::path& dir, const NodeConfig& config, const crypto::X25519KeyPair& noise_key,
              std::optional<crypto::PrivateKey> wallet = std::nullopt);

}  // namespace conet::node
