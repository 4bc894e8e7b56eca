/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 (src/util/sha256.c) against the FIPS 180-4 / CAVP examples, with
 * every block function this machine has, split at every offset, and
 * compared across implementations on random inputs.
 */
#include <string.h>

#include "hoist/util.h"
#include "src/util/sha256-private.h"
#include "tests/tap.h"

static const struct {
	const char *msg;
	const char *hex;
} vectors[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    /* 448 bits: the padding needs a second block */
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    /* 896 bits */
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
     "lmnopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
};

#define MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void digest_chunked(const void *data, size_t len, size_t chunk, char out[HOIST_DIGEST_MAX])
{
	struct hoist_sha256 h;
	hoist_sha256_init(&h);
	for (size_t off = 0; off < len; off += chunk)
		hoist_sha256_update(&h, (const char *)data + off,
				    len - off < chunk ? len - off : chunk);
	hoist_sha256_final(&h, out);
}

static void check_vectors(const char *impl)
{
	char out[HOIST_DIGEST_MAX], want[HOIST_DIGEST_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		snprintf(want, sizeof(want), "sha256:%s", vectors[i].hex);
		hoist_sha256_digest(vectors[i].msg, strlen(vectors[i].msg), out);
		tap_ok(strcmp(out, want) == 0, "%s: %zu-byte FIPS 180-4 example", impl,
		       strlen(vectors[i].msg));
		/* byte by byte: every partial-block path */
		digest_chunked(vectors[i].msg, strlen(vectors[i].msg), 1, out);
		tap_ok(strcmp(out, want) == 0, "%s: %zu-byte example, one byte at a time", impl,
		       strlen(vectors[i].msg));
	}

	/* One million 'a', fed as 1000 updates of 1000 bytes (crossing block
	 * boundaries at every phase) and as one update. */
	char *a = hoist_xmalloc(1000000);
	memset(a, 'a', 1000000);
	digest_chunked(a, 1000000, 1000, out);
	tap_ok(strcmp(out, "sha256:" MILLION_A) == 0, "%s: one million 'a' in 1000-byte updates",
	       impl);
	hoist_sha256_digest(a, 1000000, out);
	tap_ok(strcmp(out, "sha256:" MILLION_A) == 0, "%s: one million 'a' in one update", impl);
	free(a);
}

static void check_splits(const char *impl)
{
	uint8_t msg[200];
	char whole[HOIST_DIGEST_MAX], out[HOIST_DIGEST_MAX];
	bool ok = true;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 37 + 11);
	hoist_sha256_digest(msg, sizeof(msg), whole);

	/* Every split point, and every split in three around two offsets. */
	for (size_t k = 0; k <= sizeof(msg); k++) {
		struct hoist_sha256 h;
		hoist_sha256_init(&h);
		hoist_sha256_update(&h, msg, k);
		hoist_sha256_update(&h, msg + k, sizeof(msg) - k);
		hoist_sha256_final(&h, out);
		if (strcmp(out, whole) != 0) {
			tap_diag("%s: split at %zu differs", impl, k);
			ok = false;
		}
		for (size_t j = k; j <= sizeof(msg); j += 7) {
			hoist_sha256_init(&h);
			hoist_sha256_update(&h, msg, k);
			hoist_sha256_update(&h, NULL, 0);
			hoist_sha256_update(&h, msg + k, j - k);
			hoist_sha256_update(&h, msg + j, sizeof(msg) - j);
			hoist_sha256_final(&h, out);
			if (strcmp(out, whole) != 0) {
				tap_diag("%s: split at %zu and %zu differs", impl, k, j);
				ok = false;
			}
		}
	}
	tap_ok(ok, "%s: a 200-byte message split at every offset hashes the same", impl);

	/* Lengths around the padding edges (55, 56, 63, 64, 119, 120, 128)
	 * against a byte-at-a-time run. */
	ok = true;
	for (size_t len = 0; len <= 200; len++) {
		char one[HOIST_DIGEST_MAX];
		hoist_sha256_digest(msg, len, one);
		digest_chunked(msg, len, 1, out);
		if (strcmp(out, one) != 0) {
			tap_diag("%s: length %zu differs byte by byte", impl, len);
			ok = false;
		}
		for (size_t chunk = 2; chunk <= 130; chunk += 16) {
			digest_chunked(msg, len, chunk, out);
			if (strcmp(out, one) != 0) {
				tap_diag("%s: length %zu in %zu-byte updates differs", impl, len,
					 chunk);
				ok = false;
			}
		}
	}
	tap_ok(ok, "%s: every length 0..200 hashes the same in any update size", impl);

	/* A copy of a context is an independent hash of the same prefix. */
	struct hoist_sha256 h, copy;
	hoist_sha256_init(&h);
	hoist_sha256_update(&h, msg, 100);
	copy = h;
	hoist_sha256_update(&h, msg + 100, 100);
	hoist_sha256_final(&h, out);
	hoist_sha256_update(&copy, msg + 100, 100);
	char out2[HOIST_DIGEST_MAX];
	hoist_sha256_final(&copy, out2);
	tap_ok(strcmp(out, whole) == 0 && strcmp(out2, whole) == 0,
	       "%s: a copied context goes on independently", impl);
}

int main(void)
{
	static const char *const names[] = {"portable", "shani", "openssl"};
	bool have[ARRAY_SIZE(names)];
	char want[HOIST_DIGEST_MAX];

	tap_plan_auto();

	/* The automatic choice first: release on zeroed and finished states. */
	{
		struct hoist_sha256 z;
		memset(&z, 0, sizeof(z));
		hoist_sha256_release(&z);
		hoist_sha256_init(&z);
		hoist_sha256_update(&z, "abc", 3);
		hoist_sha256_final(&z, want);
		hoist_sha256_release(&z);
		tap_ok(strcmp(want,
			      "sha256:"
			      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ==
			   0,
		       "automatic (%s): 'abc', release after final is harmless",
		       hoist_sha256_impl_name());
	}

	tap_ok(hoist_sha256_impl_set("md5") == -EINVAL, "an unknown implementation is refused");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		int r = hoist_sha256_impl_set(names[i]);
		have[i] = r == 0;
		if (r == 0) {
			tap_ok(strcmp(hoist_sha256_impl_name(), names[i]) == 0, "%s is in use",
			       names[i]);
			check_vectors(names[i]);
			check_splits(names[i]);
		} else {
			tap_ok(r == -ENOTSUP, "%s: unavailable here (%d)", names[i], r);
			tap_diag("%s is not available on this machine: not tested", names[i]);
		}
	}
	tap_ok(have[0], "the portable code is always available");
	if (!have[2])
		tap_diag("libcrypto.so.3 cannot be loaded: the openssl path is not tested");

	/* Without SHA-NI the automatic choice moves to libcrypto once a
	 * the process has hashed 6 MiB, keeping the state. */
	if (have[2] && hoist_sha256_impl_set("auto-without-shani") == 0) {
		char ref[HOIST_DIGEST_MAX], out[HOIST_DIGEST_MAX];
		size_t n = (size_t)8 << 20;
		uint8_t *big = hoist_xmalloc(n);
		for (size_t i = 0; i < n; i++)
			big[i] = (uint8_t)(i * 131 + (i >> 12));
		bool before = strcmp(hoist_sha256_impl_name(), "portable") == 0;
		digest_chunked(big, n, 10240, out);
		bool after = strcmp(hoist_sha256_impl_name(), "openssl") == 0;
		hoist_sha256_impl_set("portable");
		hoist_sha256_digest(big, n, ref);
		tap_ok(before && after && strcmp(out, ref) == 0,
		       "without SHA-NI: portable, then openssl after 6 MiB, same digest");
		free(big);
	}

	/* Random lengths up to 1 MiB and random update sizes, every available
	 * implementation against the portable one-shot digest. */
	size_t max = (size_t)1 << 20;
	uint8_t *buf = hoist_xmalloc(max);
	for (size_t i = 0; i < max; i++)
		buf[i] = (uint8_t)rnd();
	bool ok = true;
	int rounds = 0;
	for (; rounds < 24; rounds++) {
		size_t len = rounds == 0 ? max : (size_t)(rnd() % (max + 1));
		if (rounds % 3 == 1)
			len %= 4096;
		size_t chunk = 1 + (size_t)(rnd() % 70000);
		char ref[HOIST_DIGEST_MAX];
		hoist_sha256_impl_set("portable");
		hoist_sha256_digest(buf, len, ref);
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			char out[HOIST_DIGEST_MAX], out2[HOIST_DIGEST_MAX];
			if (!have[i])
				continue;
			hoist_sha256_impl_set(names[i]);
			hoist_sha256_digest(buf, len, out);
			digest_chunked(buf, len, chunk, out2);
			if (strcmp(out, ref) != 0 || strcmp(out2, ref) != 0) {
				tap_diag("%s: %zu bytes (updates of %zu) differ from portable",
					 names[i], len, chunk);
				ok = false;
			}
		}
	}
	tap_ok(ok, "%d random inputs up to 1 MiB: every implementation agrees", rounds);

	/* One stream, the implementation switched between updates: the state
	 * is shared, as when libcrypto is loaded half-way through a layer. */
	{
		char ref[HOIST_DIGEST_MAX], out[HOIST_DIGEST_MAX];
		struct hoist_sha256 h;
		hoist_sha256_impl_set("portable");
		hoist_sha256_digest(buf, 300000, ref);
		hoist_sha256_init(&h);
		for (size_t off = 0, n = 0; off < 300000; off += 10007, n++) {
			size_t i = n % ARRAY_SIZE(names);
			if (have[i])
				hoist_sha256_impl_set(names[i]);
			hoist_sha256_update(&h, buf + off,
					    300000 - off < 10007 ? 300000 - off : 10007);
		}
		hoist_sha256_final(&h, out);
		tap_ok(strcmp(out, ref) == 0, "implementations switched mid-stream agree");
	}
	free(buf);
	hoist_sha256_impl_set(NULL);
	return tap_done();
}
