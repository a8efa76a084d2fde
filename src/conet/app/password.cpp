#include "conet/app/password.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>

#include "conet/util/file.hpp"

namespace conet::app {

namespace {

constexpr std::size_t password_file_max_bytes = 4096;

/// Reads one line from the terminal with echo disabled.
util::Result<std::string, std::string> prompt_tty(const std::string& prompt) {
    const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) return util::unexpected(std::string("no terminal to prompt for a password; use --password-file"));
    termios old_mode{};
    const bool have_tty = ::tcgetattr(fd, &old_mode) == 0;
    if (have_tty) {
        termios quiet = old_mode;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    (void)!::write(fd, prompt.data(), prompt.size());
    std::string line;
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n' && line.size() < password_file_max_bytes) line.push_back(c);
    if (have_tty) ::tcsetattr(fd, TCSAFLUSH, &old_mode);
    (void)!::write(fd, "\n", 1);
    ::close(fd);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

}  // namespace

util::Result<std::string, std::string> obtain_password(const std::optional<std::string>& password_file,
                                                       const std::string& prompt, Confirm confirm) {
    if (password_file) {
        auto text = util::read_file(*password_file, password_file_max_bytes);
        if (!text) return util::unexpected("cannot read password file: " + text.error().message());
        std::string line = text->substr(0, text->find('\n'));
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }
    auto first = prompt_tty(prompt);
    if (!first || confirm == Confirm::no) return first;
    auto second = prompt_tty("Repeat password: ");
    if (!second) return second;
    if (*first != *second) return util::unexpected(std::string("passwords do not match"));
    return first;
}

}  // namespace conet::app
