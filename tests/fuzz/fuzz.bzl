# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
"""A libFuzzer target of crpid and the tests that run it."""

def crpid_fuzz_target(name, deps, data = [], dictionary = None):
    """Declares NAME_fuzzer and its tests.

    NAME_fuzzer.cc defines LLVMFuzzerTestOneInput on crpid's own parser.
    With --config=fuzz (clang, scripts/fuzz.sh) it links libFuzzer; in every
    other build it links replay_main.cc instead, which runs each input once.

    NAME_corpus_test replays corpus/NAME in every build: the normal one and
    --config=asan (ASan+UBSan), as part of `bazel test //...`.
    NAME_fuzz_test (manual; with --config=fuzz only) replays the corpus and
    fuzzes for CRPID_FUZZ_SECONDS (test_env); a crash, leak, UB report,
    timeout or failed FUZZ_CHECK fails it, and the input is kept in the
    test's undeclared outputs.
    """
    fuzzer = name + "_fuzzer"
    corpus = "corpus/" + name
    files = native.glob([corpus + "/**"])
    dictionary_args = ["$(location %s)" % dictionary] if dictionary else []
    native.cc_binary(
        name = fuzzer,
        testonly = True,
        srcs = [fuzzer + ".cc"],
        data = data,
        linkopts = select({
            ":libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        deps = deps + [":fuzz_support"] + select({
            ":libfuzzer": [],
            "//conditions:default": [":replay_main"],
        }),
    )
    test_data = [":" + fuzzer] + files + ([dictionary] if dictionary else [])
    native.sh_test(
        name = name + "_corpus_test",
        size = "small",
        srcs = ["run_fuzzer.sh"],
        args = ["replay", "$(location :%s)" % fuzzer, "tests/fuzz/" + corpus],
        data = test_data,
    )
    native.sh_test(
        name = name + "_fuzz_test",
        # The fuzzing time is CRPID_FUZZ_SECONDS; "large" only sets the
        # timeout (900 s) above any time CI gives.
        size = "large",
        srcs = ["run_fuzzer.sh"],
        args = ["fuzz", "$(location :%s)" % fuzzer, "tests/fuzz/" + corpus] + dictionary_args,
        data = test_data,
        # external: fuzzing finds something new each run; never cached.
        tags = [
            "external",
            "manual",
        ],
    )
