// conet: the single binary (DESIGN §1). This file is the composition root of
// the command-line front end and owns nothing else.

#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "conet/app/cli.hpp"
#include "conet/crypto/random.hpp"

int main(int argc, char** argv) {
    // The data path allocates and frees 64 KiB cells at a high rate; glibc's
    // default 128 KiB trim threshold returns the heap top to the kernel and
    // faults it back in over and over (page faults were ~5% of a relay's time).
    // Keep up to 64 MiB of freed heap; larger buffers still come from mmap.
    ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
    ::mallopt(M_MMAP_THRESHOLD, 4 << 20);
    conet::crypto::initialize();
    // Logs go to stderr; stdout carries results and readiness lines.
    spdlog::set_default_logger(spdlog::stderr_color_st("conet"));

    CLI::App app{"conet: a decentralized privacy network (wallets, relays, proxy, ledger)", "conet"};
    app.set_version_flag("--version", "conet 0.1.0");
    app.require_subcommand(1);
    int exit_code = conet::app::exit_ok;
    conet::app::add_wallet_commands(app, exit_code);
    conet::app::add_debug_commands(app, exit_code);
    conet::app::add_node_commands(app, exit_code);
    conet::app::add_proxy_commands(app, exit_code);
    conet::app::add_genesis_commands(app, exit_code);
    conet::app::add_ledger_commands(app, exit_code);
    conet::app::add_devnet_commands(app, exit_code);
    conet::app::add_testnet_command(app, exit_code);
    conet::app::add_sim_commands(app, exit_code);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : conet::app::exit_usage;
    }
    return exit_code;
}
