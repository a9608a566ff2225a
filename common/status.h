// Status and Expected<T>: how every layer reports a failure a user can act on.
// A Status carries one line, "<what>: <why>", that front ends print as "m1: <what>: <why>".
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace m1 {

class Status {
public:
  Status() = default;  // success
  static Status error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string & message() const { return message_; }

  // Prefixes the message with context, e.g. the file being read: "model.safetensors: <why>".
  Status with_context(const std::string & context) const {
    return ok() ? *this : Status(context + ": " + message_);
  }

private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T> class Expected {
public:
  Expected(T value) : state_(std::move(value)) {}             // NOLINT: implicit by design
  Expected(Status status) : state_(std::move(status)) {       // NOLINT: implicit by design
    assert(!std::get<Status>(state_).ok() && "Expected built from a success Status");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  const Status & status() const {
    static const Status success;
    return ok() ? success : std::get<Status>(state_);
  }
  T & value() & { return std::get<T>(state_); }
  const T & value() const & { return std::get<T>(state_); }
  T && value() && { return std::get<T>(std::move(state_)); }
  T * operator->() { return &value(); }
  const T * operator->() const { return &value(); }
  T & operator*() & { return value(); }
  const T & operator*() const & { return value(); }

private:
  std::variant<T, Status> state_;
};

}  // namespace m1

// Returns early from a function returning Status or Expected<T> when `expr` failed.
#define M1_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::m1::Status m1_status_ = (expr);            \
    if (!m1_status_.ok()) return m1_status_;     \
  } while (0)
