// `conet debug …`: developer tools.

#include <iostream>

#include "conet/app/cli.hpp"
#include "conet/crypto/noise/vectors.hpp"
#include "conet/util/file.hpp"
#include "conet/util/limits.hpp"

namespace conet::app {

namespace {
constexpr std::size_t vector_file_max_bytes = 256ull * 1024 * 1024;

int run_noise_vectors(const std::string& path) {
    auto text = util::read_file(path, vector_file_max_bytes);
    if (!text) return fail(text.error().message());
    const crypto::noise::VectorReport report = crypto::noise::run_cacophony_vectors(*text);
    if (!report.fatal.empty()) return fail(path + ": " + report.fatal);
    for (const std::string& f : report.failures) std::cout << "FAIL " << f << "\n";
    std::cout << report.passed << " passed, " << report.failed << " failed, " << report.skipped << " skipped\n";
    return report.failed == 0 ? exit_ok : exit_failure;
}
/// Every budget as a Markdown table (docs/security.md holds the same table; a test compares them).
int print_limits() {
    const util::Limits defaults;
    std::cout << "| `[limits]` option | default | what it protects |\n|---|---:|---|\n";
    for (const auto& f : util::limit_fields())
        std::cout << "| `" << f.name << "` | " << defaults.*f.member << " | " << f.help << " |\n";
    return exit_ok;
}
}  // namespace

void add_debug_commands(CLI::App& app, int& exit_code) {
    CLI::App* debug = app.add_subcommand("debug", "Developer tools");
    debug->require_subcommand(1);

    auto* vectors =
        debug->add_subcommand("noise-vectors", "Check the Noise engine against a cacophony-format test vector file");
    auto path = std::make_shared<std::string>();
    vectors->add_option("FILE", *path, "cacophony JSON file ({\"vectors\": [...]})")->required();
    vectors->final_callback([&exit_code, path] { exit_code = run_noise_vectors(*path); });

    auto* limits =
        debug->add_subcommand("limits", "Print every budget (node.toml [limits]) with its default, as Markdown");
    limits->final_callback([&exit_code] { exit_code = print_limits(); });
}

}  // namespace conet::app
