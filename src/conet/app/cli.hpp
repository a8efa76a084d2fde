#pragma once
/// Shared pieces of the command-line front end.

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

namespace conet::app {

/// Exit codes: 0 success, 1 the operation failed, 2 bad usage / input.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

/// Prints "conet: error: <message>" to stderr and returns `code`.
int fail(std::string_view message, int code = exit_failure);

void print_json(const boost::json::value& v);

/// Each add_*_commands registers subcommands whose callbacks store their exit
/// code in `exit_code`.
void add_wallet_commands(CLI::App& app, int& exit_code);
void add_debug_commands(CLI::App& app, int& exit_code);
void add_node_commands(CLI::App& app, int& exit_code);
void add_proxy_commands(CLI::App& app, int& exit_code);
void add_genesis_commands(CLI::App& app, int& exit_code);
void add_ledger_commands(CLI::App& app, int& exit_code);
void add_devnet_commands(CLI::App& app, int& exit_code);
void add_testnet_command(CLI::App& app, int& exit_code);
void add_sim_commands(CLI::App& app, int& exit_code);

}  // namespace conet::app
