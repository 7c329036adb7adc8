# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
"""Binaries built without the sanitizers of --config=asan.

The set-mm probes are the programs set-mm loads in place of crpid: they are
not crpid's code, and two of them are static, which ASan cannot link. Under
--config=asan the global --linkopt=-fsanitize=… comes after a target's own
linkopts, so a target cannot opt out by itself; this rule builds its binary
in a configuration whose --copt and --linkopt lists have the sanitizer flags
removed. Without --config=asan it changes nothing.
"""

def _without_sanitizer_flags(options):
    return [option for option in options if not option.startswith("-fsanitize") and
                                            not option.startswith("-fno-sanitize")]

def _not_sanitized_transition_impl(settings, _attr):
    return {
        "//command_line_option:copt": _without_sanitizer_flags(settings["//command_line_option:copt"]),
        "//command_line_option:linkopt": _without_sanitizer_flags(settings["//command_line_option:linkopt"]),
    }

_not_sanitized_transition = transition(
    implementation = _not_sanitized_transition_impl,
    inputs = ["//command_line_option:copt", "//command_line_option:linkopt"],
    outputs = ["//command_line_option:copt", "//command_line_option:linkopt"],
)

def _not_sanitized_binary_impl(ctx):
    binary = ctx.attr.binary[0][DefaultInfo].files_to_run.executable
    output = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.run_shell(
        inputs = [binary],
        outputs = [output],
        command = "cp \"$1\" \"$2\"",
        arguments = [binary.path, output.path],
        mnemonic = "CopyNotSanitized",
    )
    return [DefaultInfo(executable = output, files = depset([output]))]

not_sanitized_binary = rule(
    implementation = _not_sanitized_binary_impl,
    doc = "The executable of `binary`, built without sanitizer flags.",
    attrs = {
        "binary": attr.label(cfg = _not_sanitized_transition, executable = True, mandatory = True),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    executable = True,
)
