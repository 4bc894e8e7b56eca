/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 (FIPS 180-4) with three block functions behind one streaming API.
 *
 * Why not libcrypto: linking it cost every hoist process ~4-5 ms of CPU and
 * ~125 page faults at start-up (hoist --version: 8.8 against 4.6 ms, 209
 * against 83 faults; thousands of relocations, BIND_NOW), a large part of a
 * no-op rebuild's budget, and hoist needed nothing from it but this hash
 * and base64.
 *
 * The block functions, picked once per process:
 *   - shani: the x86-64 SHA extensions, ~1.5-2 GB/s; used whenever the CPU
 *     has them (cpuid, not __builtin_cpu_supports("sha"): GCC 12 answers
 *     false on CPUs that have it and clang 14 rejects the name).
 *   - portable: plain C from the standard, for everything else.
 *   - openssl: libcrypto's assembly (AVX2 or ARMv8 crypto) via dlopen.
 *     Without SHA-NI it is ~1.4x as fast as the C code (600 against 440
 *     MB/s here), which matters when a cold build hashes hundreds of MB of
 *     layers. Loading it costs ~4 ms of CPU, so it is loaded only when
 *     SHA-NI is missing and the process has hashed OPENSSL_AFTER bytes
 *     (see there); if dlopen fails the C code goes on.
 * HOIST_SHA256_IMPL=shani|portable|openssl, read once, forces one for tests
 * and benchmarks; a forced path this machine lacks falls back silently.
 *
 * The hash state (struct hoist_sha256) is the standard's: eight words, a
 * byte count and a partial block, so any block function can continue a
 * stream another began.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "hoist/util.h"
#include "src/util/sha256-private.h"

typedef void (*blocks_fn)(uint32_t st[8], const uint8_t *p, size_t nblocks);

/* ---- portable C (FIPS 180-4, sections 4.1.2, 4.2.2, 5.3.3, 6.2) ------- */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t H0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static inline uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#define BSIG0(x) (rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22))
#define BSIG1(x) (rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25))
#define SSIG0(x) (rotr(x, 7) ^ rotr(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (rotr(x, 17) ^ rotr(x, 19) ^ ((x) >> 10))
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))

/*
 * One round with the working variables named by position rather than moved
 * (the standard's h=g, g=f, ... shuffle): eight rounds in a row rotate the
 * names back, so the compiler keeps all of them in registers.
 */
#define ROUND(a, b, c, d, e, f, g, h, t, w)                                                        \
	do {                                                                                       \
		uint32_t t1_ = (h) + BSIG1(e) + CH(e, f, g) + K[t] + (w);                          \
		uint32_t t2_ = BSIG0(a) + MAJ(a, b, c);                                            \
		(d) += t1_;                                                                        \
		(h) = t1_ + t2_;                                                                   \
	} while (0)

/* W[t] for t >= 16, in a 16-word ring: it needs only W[t-16..t-2]. */
#define SCHED(t) (w[(t)&15] += SSIG1(w[((t)-2) & 15]) + w[((t)-7) & 15] + SSIG0(w[((t)-15) & 15]))
#define R_LOAD(a, b, c, d, e, f, g, h, t) ROUND(a, b, c, d, e, f, g, h, t, w[t])
#define R_SCHED(a, b, c, d, e, f, g, h, t) ROUND(a, b, c, d, e, f, g, h, t, SCHED(t))
#define ROUNDS8(R, t)                                                                              \
	do {                                                                                       \
		R(a, b, c, d, e, f, g, h, (t) + 0);                                                \
		R(h, a, b, c, d, e, f, g, (t) + 1);                                                \
		R(g, h, a, b, c, d, e, f, (t) + 2);                                                \
		R(f, g, h, a, b, c, d, e, (t) + 3);                                                \
		R(e, f, g, h, a, b, c, d, (t) + 4);                                                \
		R(d, e, f, g, h, a, b, c, (t) + 5);                                                \
		R(c, d, e, f, g, h, a, b, (t) + 6);                                                \
		R(b, c, d, e, f, g, h, a, (t) + 7);                                                \
	} while (0)

/*
 * All 64 rounds written out, the schedule computed as each round needs it:
 * ~1.6x the speed of a loop over eight-round groups (450 against 285 MB/s
 * with GCC 12 -O2), as every ring index becomes a constant.
 */
static void blocks_portable(uint32_t st[8], const uint8_t *p, size_t nblocks)
{
	for (; nblocks; nblocks--, p += 64) {
		uint32_t w[16];
		uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
		uint32_t e = st[4], f = st[5], g = st[6], h = st[7];

		for (int t = 0; t < 16; t++)
			w[t] = load_be32(p + 4 * t);
		ROUNDS8(R_LOAD, 0);
		ROUNDS8(R_LOAD, 8);
		ROUNDS8(R_SCHED, 16);
		ROUNDS8(R_SCHED, 24);
		ROUNDS8(R_SCHED, 32);
		ROUNDS8(R_SCHED, 40);
		ROUNDS8(R_SCHED, 48);
		ROUNDS8(R_SCHED, 56);
		st[0] += a;
		st[1] += b;
		st[2] += c;
		st[3] += d;
		st[4] += e;
		st[5] += f;
		st[6] += g;
		st[7] += h;
	}
}

/* ---- x86-64 SHA extensions --------------------------------------------- */

#if defined(__x86_64__)
/*
 * The SHA-NI instructions keep the state as two vectors, ABEF and CDGH
 * (A in the top lane); SHA256RNDS2 does two rounds, so each group of four
 * message words is two calls, the second with the roles of the state
 * vectors swapped. MSG1/MSG2 compute the schedule four words at a time.
 */
__attribute__((target("sha,sse4.1"))) static void blocks_shani(uint32_t st[8], const uint8_t *p,
							       size_t nblocks)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i abcd = _mm_loadu_si128((const __m128i *)&st[0]);
	__m128i efgh = _mm_loadu_si128((const __m128i *)&st[4]);
	__m128i badc = _mm_shuffle_epi32(abcd, 0xb1);
	__m128i hgfe = _mm_shuffle_epi32(efgh, 0x1b);
	__m128i abef = _mm_alignr_epi8(badc, hgfe, 8);
	__m128i cdgh = _mm_blend_epi16(hgfe, badc, 0xf0);

/*
 * Four rounds with message words W[4g..4g+3] in m0, then (while g < 12)
 * the schedule's next four, W[4g+16..], into m0 from m0..m3 = W[4g..4g+15].
 * Written out rather than looped so that m0..m3 stay in registers.
 */
#define QROUNDS(g, m0, m1, m2, m3)                                                                 \
	do {                                                                                       \
		__m128i wk_ = _mm_add_epi32(m0, _mm_loadu_si128((const __m128i *)&K[4 * (g)]));    \
		cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk_);                                     \
		abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk_, 0x0e));            \
		if ((g) < 12)                                                                      \
			m0 = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(m0, m1),      \
								_mm_alignr_epi8(m3, m2, 4)),       \
						  m3);                                             \
	} while (0)

	for (; nblocks; nblocks--, p += 64) {
		const __m128i abef0 = abef, cdgh0 = cdgh;
		__m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
		__m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
		__m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
		__m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);

		QROUNDS(0, m0, m1, m2, m3);
		QROUNDS(1, m1, m2, m3, m0);
		QROUNDS(2, m2, m3, m0, m1);
		QROUNDS(3, m3, m0, m1, m2);
		QROUNDS(4, m0, m1, m2, m3);
		QROUNDS(5, m1, m2, m3, m0);
		QROUNDS(6, m2, m3, m0, m1);
		QROUNDS(7, m3, m0, m1, m2);
		QROUNDS(8, m0, m1, m2, m3);
		QROUNDS(9, m1, m2, m3, m0);
		QROUNDS(10, m2, m3, m0, m1);
		QROUNDS(11, m3, m0, m1, m2);
		QROUNDS(12, m0, m1, m2, m3);
		QROUNDS(13, m1, m2, m3, m0);
		QROUNDS(14, m2, m3, m0, m1);
		QROUNDS(15, m3, m0, m1, m2);
		abef = _mm_add_epi32(abef, abef0);
		cdgh = _mm_add_epi32(cdgh, cdgh0);
	}
#undef QROUNDS

	__m128i feba = _mm_shuffle_epi32(abef, 0x1b);
	__m128i dchg = _mm_shuffle_epi32(cdgh, 0xb1);
	_mm_storeu_si128((__m128i *)&st[0], _mm_blend_epi16(feba, dchg, 0xf0));
	_mm_storeu_si128((__m128i *)&st[4], _mm_alignr_epi8(dchg, feba, 8));
}

static bool cpu_has_shani(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	/* SSSE3 (ECX 9) and SSE4.1 (ECX 19) carry the shuffles around the
	 * SHA instructions. */
	if (!(c & (1u << 9)) || !(c & (1u << 19)))
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	return b & (1u << 29);
}
#else
static bool cpu_has_shani(void)
{
	return false;
}
#define blocks_shani blocks_portable
#endif

/* ---- libcrypto, loaded on demand --------------------------------------- */

/*
 * OpenSSL 3's SHA256_CTX (openssl/sha.h), part of libcrypto.so.3's ABI.
 * Mirrored so that building hoist needs no OpenSSL headers. The deprecated
 * low-level SHA256_Update is the one entry that runs the assembly block
 * function on a state we own: started with num == 0 and a whole number of
 * blocks, it buffers nothing, so the state words are the whole story.
 */
struct ossl_sha256_ctx {
	uint32_t h[8];
	uint32_t nl, nh;
	uint32_t data[16];
	unsigned int num, md_len;
};

static int (*ossl_init)(struct ossl_sha256_ctx *);
static int (*ossl_update)(struct ossl_sha256_ctx *, const void *, size_t);
static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;
static bool ossl_loaded;

static void ossl_load(void)
{
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	*(void **)&ossl_init = dlsym(h, "SHA256_Init");
	*(void **)&ossl_update = dlsym(h, "SHA256_Update");
	if (!ossl_init || !ossl_update) {
		dlclose(h);
		return;
	}
	/* The handle stays open for the life of the process. */
	ossl_loaded = true;
}

static void blocks_openssl(uint32_t st[8], const uint8_t *p, size_t nblocks)
{
	struct ossl_sha256_ctx c;
	ossl_init(&c);
	memcpy(c.h, st, sizeof(c.h));
	ossl_update(&c, p, nblocks * 64);
	memcpy(st, c.h, sizeof(c.h));
}

/* ---- choosing ------------------------------------------------------------ */

/*
 * Without SHA-NI: how many bytes the process hashes with the C code before
 * it loads libcrypto. Ski rental: loading costs about what the C code
 * loses against libcrypto's on OPENSSL_AFTER bytes (measured on an AMD
 * EPYC with SHA-NI masked: ~4 ms of CPU to load, 0.6 ms lost per MiB), so
 * a process never pays more than about twice the better choice, and one
 * that hashes little (a no-op rebuild) never loads it.
 */
#define OPENSSL_AFTER ((uint64_t)6 << 20)

static const struct impl {
	enum hoist_sha256_impl id;
	const char *name;
	blocks_fn fn;
} impls[] = {
    [HOIST_SHA256_PORTABLE] = {HOIST_SHA256_PORTABLE, "portable", blocks_portable},
    [HOIST_SHA256_SHANI] = {HOIST_SHA256_SHANI, "shani", blocks_shani},
    [HOIST_SHA256_OPENSSL] = {HOIST_SHA256_OPENSSL, "openssl", blocks_openssl},
};

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static bool have_shani;
/* The block function in use. Written at setup, when libcrypto is loaded
 * and by tests; read without a lock by every update. */
static _Atomic(const struct impl *) current;
/* Is a switch to libcrypto after OPENSSL_AFTER bytes still to be tried;
 * the bytes hashed meanwhile. */
static atomic_bool upgrade_pending;
static _Atomic uint64_t portable_bytes;

static bool available(enum hoist_sha256_impl id)
{
	switch (id) {
	case HOIST_SHA256_PORTABLE:
		return true;
	case HOIST_SHA256_SHANI:
		return have_shani;
	case HOIST_SHA256_OPENSSL:
		pthread_once(&ossl_once, ossl_load);
		return ossl_loaded;
	}
	return false;
}

/* The automatic choice: SHA-NI, else C now and libcrypto later. */
static void choose_auto(bool ni)
{
	atomic_store(&current, &impls[ni ? HOIST_SHA256_SHANI : HOIST_SHA256_PORTABLE]);
	atomic_store(&portable_bytes, 0);
	atomic_store(&upgrade_pending, !ni);
}

static int parse_impl(const char *s, enum hoist_sha256_impl *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(impls); i++)
		if (strcmp(s, impls[i].name) == 0) {
			*ret = impls[i].id;
			return 0;
		}
	return -EINVAL;
}

static void setup(void)
{
	enum hoist_sha256_impl id;
	const char *e = getenv("HOIST_SHA256_IMPL");

	have_shani = cpu_has_shani();
	choose_auto(have_shani);
	if (e && parse_impl(e, &id) == 0 && available(id)) {
		atomic_store(&current, &impls[id]);
		atomic_store(&upgrade_pending, false);
	}
}

static inline blocks_fn get_blocks(void)
{
	pthread_once(&setup_once, setup);
	return atomic_load_explicit(&current, memory_order_acquire)->fn;
}

/* Count bytes on the C code; past OPENSSL_AFTER, load libcrypto. */
static void count_portable(size_t len)
{
	uint64_t n = atomic_fetch_add_explicit(&portable_bytes, len, memory_order_relaxed) + len;
	if (n < OPENSSL_AFTER || !atomic_exchange(&upgrade_pending, false))
		return;
	if (available(HOIST_SHA256_OPENSSL))
		atomic_store_explicit(&current, &impls[HOIST_SHA256_OPENSSL], memory_order_release);
}

int hoist_sha256_impl_set(const char *name)
{
	enum hoist_sha256_impl id;

	pthread_once(&setup_once, setup);
	if (!name || strcmp(name, "auto") == 0) {
		choose_auto(have_shani);
		return 0;
	}
	if (strcmp(name, "auto-without-shani") == 0) {
		choose_auto(false);
		return 0;
	}
	if (parse_impl(name, &id) < 0)
		return -EINVAL;
	if (!available(id))
		return -ENOTSUP;
	atomic_store(&current, &impls[id]);
	atomic_store(&upgrade_pending, false);
	return 0;
}

const char *hoist_sha256_impl_name(void)
{
	pthread_once(&setup_once, setup);
	return atomic_load(&current)->name;
}

/* ---- the streaming API ------------------------------------------------- */

void hoist_sha256_init(struct hoist_sha256 *h)
{
	memcpy(h->state, H0, sizeof(H0));
	h->len = 0;
	pthread_once(&setup_once, setup);
}

void hoist_sha256_update(struct hoist_sha256 *h, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t have = (size_t)(h->len & 63);
	blocks_fn fn;

	if (!len)
		return;
	h->len += len;
	if (atomic_load_explicit(&upgrade_pending, memory_order_relaxed))
		count_portable(len);
	fn = get_blocks();

	if (have) {
		size_t take = 64 - have < len ? 64 - have : len;
		memcpy(h->buf + have, p, take);
		p += take;
		len -= take;
		if (have + take < 64)
			return;
		fn(h->state, h->buf, 1);
	}
	if (len >= 64) {
		fn(h->state, p, len / 64);
		p += len & ~(size_t)63;
		len &= 63;
	}
	if (len)
		memcpy(h->buf, p, len);
}

static void finish(struct hoist_sha256 *h, uint8_t md[32])
{
	/* Padding (5.1.1): 0x80, zeros to 56 mod 64, the length in bits. */
	uint8_t pad[72] = {0x80};
	uint64_t bits = h->len * 8;
	size_t have = (size_t)(h->len & 63);
	size_t padlen = (have < 56 ? 56 : 120) - have;

	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
	hoist_sha256_update(h, pad, padlen + 8);
	for (int i = 0; i < 8; i++)
		store_be32(md + 4 * i, h->state[i]);
	hoist_sha256_release(h);
}

static void hex_digest(const uint8_t md[32], char out[HOIST_DIGEST_MAX])
{
	static const char hex[] = "0123456789abcdef";
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[7 + 2 * i + 1] = hex[md[i] & 15];
	}
	out[7 + 64] = '\0';
}

void hoist_sha256_final(struct hoist_sha256 *h, char out[HOIST_DIGEST_MAX])
{
	uint8_t md[32];
	finish(h, md);
	hex_digest(md, out);
}

void hoist_sha256_release(struct hoist_sha256 *h)
{
	/* Nothing is allocated; wiping keeps a hash of a secret's tail out of
	 * freed memory, as the EVP context's free did. */
	explicit_bzero(h, sizeof(*h));
}

void hoist_sha256_digest(const void *data, size_t len, char out[HOIST_DIGEST_MAX])
{
	struct hoist_sha256 h;
	hoist_sha256_init(&h);
	hoist_sha256_update(&h, data, len);
	hoist_sha256_final(&h, out);
}
