#include "conet/runtime/storage.hpp"

namespace conet::runtime {

std::string_view describe(StorageError e) {
    switch (e) {
        case StorageError::io: return "the operating system refused a read, write or sync";
        case StorageError::bad_name: return "bad file name";
    }
    return "unknown storage error";
}

bool is_valid_file_name(std::string_view name) {
    if (name.empty() || name == "." || name == "..") return false;
    return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

}  // namespace conet::runtime
