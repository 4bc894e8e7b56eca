/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Choosing SHA-256's block function (src/util/sha256.c), for tests and
 * benchmarks. Everyone else uses the automatic choice, which
 * HOIST_SHA256_IMPL=shani|portable|openssl in the environment overrides.
 */

enum hoist_sha256_impl {
	HOIST_SHA256_PORTABLE,
	HOIST_SHA256_SHANI,
	HOIST_SHA256_OPENSSL,
};

/*
 * Use the named block function ("portable", "shani", "openssl") for every
 * context in the process from now on, or go back to the automatic choice
 * ("auto" or NULL), or make it as on a CPU without SHA-NI
 * ("auto-without-shani": portable, then libcrypto after a long input). Returns -EINVAL for an
 * unknown name and -ENOTSUP when this machine lacks it (the CPU has no SHA-NI, libcrypto.so.3
 * cannot be loaded), changing nothing. Not for use while other threads hash.
 */
int hoist_sha256_impl_set(const char *name);
/* The name of the block function in use now. */
const char *hoist_sha256_impl_name(void);
