#include "flags.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace gannet::app {
namespace {

std::vector<std::string> split_names(const std::string& names) {
    std::vector<std::string> out;
    std::stringstream ss(names);
    std::string item;
    while (std::getline(ss, item, ',')) {
        out.push_back(item);
    }
    return out;
}

}  // namespace

void Flags::add_string(const std::string& names, std::string* out, const std::string& help) {
    specs_.push_back({split_names(names), Kind::kString, out, help});
}
void Flags::add_strings(const std::string& names, std::vector<std::string>* out, const std::string& help) {
    specs_.push_back({split_names(names), Kind::kStrings, out, help});
}
void Flags::add_int(const std::string& names, int64_t* out, const std::string& help) {
    specs_.push_back({split_names(names), Kind::kInt, out, help});
}
void Flags::add_float(const std::string& names, double* out, const std::string& help) {
    specs_.push_back({split_names(names), Kind::kFloat, out, help});
}
void Flags::add_bool(const std::string& names, bool* out, const std::string& help) {
    specs_.push_back({split_names(names), Kind::kBool, out, help});
}

Flags::Spec* Flags::find(const std::string& name) {
    for (Spec& s : specs_) {
        for (const std::string& n : s.names) {
            if (n == name) {
                return &s;
            }
        }
    }
    return nullptr;
}

bool Flags::was_set(const std::string& long_name) const {
    for (const Spec& s : specs_) {
        for (const std::string& n : s.names) {
            if (n == long_name) {
                return s.set;
            }
        }
    }
    return false;
}

Status Flags::parse(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
        std::string arg = args[i];
        const bool looks_like_flag = arg.size() > 1 && arg[0] == '-' && !(arg.size() > 1 && std::isdigit(arg[1]));
        if (!looks_like_flag) {
            if (positional_ == nullptr) {
                return make_error(ErrorCode::kInvalidArgument, "%s: unexpected argument '%s'", command_.c_str(),
                                  arg.c_str());
            }
            positional_->push_back(arg);
            continue;
        }
        std::optional<std::string> inline_value;
        const size_t eq = arg.find('=');
        if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        }
        Spec* spec = find(arg);
        if (spec == nullptr) {
            return make_error(ErrorCode::kInvalidArgument, "%s: unknown flag '%s' (see gannet %s --help)",
                              command_.c_str(), arg.c_str(), command_.c_str());
        }
        spec->set = true;
        if (spec->kind == Kind::kBool) {
            if (inline_value) {
                return make_error(ErrorCode::kInvalidArgument, "%s: %s takes no value", command_.c_str(), arg.c_str());
            }
            *static_cast<bool*>(spec->out) = true;
            continue;
        }
        std::string value;
        if (inline_value) {
            value = *inline_value;
        } else {
            if (i + 1 >= args.size()) {
                return make_error(ErrorCode::kInvalidArgument, "%s: %s needs a value", command_.c_str(), arg.c_str());
            }
            value = args[++i];
        }
        switch (spec->kind) {
            case Kind::kString: *static_cast<std::string*>(spec->out) = value; break;
            case Kind::kStrings: static_cast<std::vector<std::string>*>(spec->out)->push_back(value); break;
            case Kind::kInt: {
                char* end = nullptr;
                errno = 0;
                const long long v = std::strtoll(value.c_str(), &end, 10);
                if (value.empty() || *end != '\0' || errno == ERANGE) {
                    return make_error(ErrorCode::kInvalidArgument, "%s: %s needs an integer, got '%s'",
                                      command_.c_str(), arg.c_str(), value.c_str());
                }
                *static_cast<int64_t*>(spec->out) = v;
                break;
            }
            case Kind::kFloat: {
                char* end = nullptr;
                errno = 0;
                const double v = std::strtod(value.c_str(), &end);
                if (value.empty() || *end != '\0' || errno == ERANGE) {
                    return make_error(ErrorCode::kInvalidArgument, "%s: %s needs a number, got '%s'",
                                      command_.c_str(), arg.c_str(), value.c_str());
                }
                *static_cast<double*>(spec->out) = v;
                break;
            }
            case Kind::kBool: break;
        }
    }
    return Status();
}

std::string Flags::usage() const {
    std::string out = "usage: gannet " + command_ + " [flags]\n";
    for (const Spec& s : specs_) {
        std::string names;
        for (const std::string& n : s.names) {
            names += (names.empty() ? "" : ", ") + n;
        }
        out += "  " + names + "\n      " + s.help + "\n";
    }
    return out;
}

int fail(const std::string& command, const Status& status) {
    // Flag errors already start with "<command>: "; don't say the command twice.
    const std::string& msg = status.message();
    if (msg.rfind(command + ":", 0) == 0) {
        std::fprintf(stderr, "gannet %s\n", msg.c_str());
    } else {
        std::fprintf(stderr, "gannet %s: %s\n", command.c_str(), msg.c_str());
    }
    return 1;
}

}  // namespace gannet::app
