// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// Result<T>: a value or an Error carrying a kind the front end can map to a
// remedy, the errno the kernel reported, and a message "what: strerror".
#ifndef CRPID_SRC_RESULT_H_
#define CRPID_SRC_RESULT_H_

#include <string>
#include <utility>
#include <variant>

namespace crpid {

enum class ErrorKind {
  kPermission,    // a capability is missing (EPERM/EACCES from the kernel)
  kUnsupported,   // the kernel lacks a feature (ENOSYS, unknown capability)
  kBusy,          // the resource is taken (PID in use)
  kNotFound,      // no such process or file
  kInvalidInput,  // the caller asked for something impossible
  kSystem,        // anything else the kernel refused
};

struct Error {
  ErrorKind kind = ErrorKind::kSystem;
  int err = 0;          // errno, 0 when the error is not the kernel's
  std::string message;  // "what: strerror", no trailing newline
  std::string hint;     // what to do about it, empty when only the kind tells
};

// Builds an Error whose message is "what: strerror(err)".
Error ErrnoError(ErrorKind kind, int err, std::string what);
// Picks the kind for a bare errno (EPERM -> kPermission, ENOENT -> kNotFound…).
ErrorKind KindForErrno(int err);
// ErrnoError with the kind chosen by KindForErrno.
Error SystemError(int err, std::string what);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}     // NOLINT
  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const T& value() const& { return std::get<0>(state_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { return std::get<1>(state_); }
  Error& error() & { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

struct Ok {};
using Status = Result<Ok>;

}  // namespace crpid

#endif  // CRPID_SRC_RESULT_H_
