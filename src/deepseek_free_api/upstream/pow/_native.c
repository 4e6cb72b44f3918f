/* Native core of the DeepSeekHashV1 proof-of-work solver (PROTOCOL.md section 3).
 *
 * DeepSeekHashV1 is SHA3-256 whose Keccak-f[1600] skips round 0. A solve hashes
 * prefix + str(n) for n in [0, difficulty) until the digest equals the challenge.
 *
 * Speed comes from three things, all chosen at run time so one build runs on any CPU
 * (never compiled with -march=native):
 *   - several nonces per pass: the permutation is written once over a generic lane type T and
 *     instantiated for uint64_t (scalar), a 128-bit vector (SSE2 on x86-64, NEON on arm64) and,
 *     on x86-64, a 256-bit AVX2 vector enabled per function with __attribute__((target));
 *   - the prefix blocks that hold no digit are absorbed once per solve;
 *   - one solve can be split across threads that take chunks of nonces in increasing order, so
 *     the smallest answer wins exactly as in the official sequential scan.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(_WIN32)
#include <pthread.h>
#define DS_THREADS 1
#else
#define DS_THREADS 0
#endif

#if defined(__GNUC__)
#define DS_VECTORS 1
#else
#define DS_VECTORS 0 /* no GCC vector extensions (MSVC): scalar only */
#endif

#if DS_VECTORS && (defined(__x86_64__) || defined(_M_X64)) && (defined(__clang__) || __GNUC__ >= 6)
#define DS_AVX2 1
#else
#define DS_AVX2 0
#endif

#define RATE 136
#define RATE_WORDS 17
#define MAX_DIGITS 20
#define CHUNK 2048

static const uint64_t KECCAK_RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL, 0x8000000080008000ULL,
    0x000000000000808BULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008AULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
    0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800AULL, 0x800000008000000AULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

#define ROL(x, n) (((x) << (n)) | ((x) >> (64 - (n))))

/* Rounds 1..23 of Keccak-f[1600] on 25 lanes of type T (generated, fully unrolled per round). */
#define DEFINE_PERMUTE(NAME, T, ATTR) \
static ATTR inline void NAME(T *s) { \
    T a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3], a4 = s[4], a5 = s[5], a6 = s[6], a7 = s[7], a8 = s[8], a9 = s[9], a10 = s[10], a11 = s[11], a12 = s[12], a13 = s[13], a14 = s[14], a15 = s[15], a16 = s[16], a17 = s[17], a18 = s[18], a19 = s[19], a20 = s[20], a21 = s[21], a22 = s[22], a23 = s[23], a24 = s[24]; \
    T c0, c1, c2, c3, c4, d0, d1, d2, d3, d4; \
    T b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16, b17, b18, b19, b20, b21, b22, b23, b24; \
    for (int r = 1; r < 24; r++) { \
        c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20; \
        c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21; \
        c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22; \
        c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23; \
        c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24; \
        d0 = c4 ^ ROL(c1, 1); \
        d1 = c0 ^ ROL(c2, 1); \
        d2 = c1 ^ ROL(c3, 1); \
        d3 = c2 ^ ROL(c4, 1); \
        d4 = c3 ^ ROL(c0, 1); \
        b0 = a0 ^ d0; \
        b16 = ROL(a5 ^ d0, 36); \
        b7 = ROL(a10 ^ d0, 3); \
        b23 = ROL(a15 ^ d0, 41); \
        b14 = ROL(a20 ^ d0, 18); \
        b10 = ROL(a1 ^ d1, 1); \
        b1 = ROL(a6 ^ d1, 44); \
        b17 = ROL(a11 ^ d1, 10); \
        b8 = ROL(a16 ^ d1, 45); \
        b24 = ROL(a21 ^ d1, 2); \
        b20 = ROL(a2 ^ d2, 62); \
        b11 = ROL(a7 ^ d2, 6); \
        b2 = ROL(a12 ^ d2, 43); \
        b18 = ROL(a17 ^ d2, 15); \
        b9 = ROL(a22 ^ d2, 61); \
        b5 = ROL(a3 ^ d3, 28); \
        b21 = ROL(a8 ^ d3, 55); \
        b12 = ROL(a13 ^ d3, 25); \
        b3 = ROL(a18 ^ d3, 21); \
        b19 = ROL(a23 ^ d3, 56); \
        b15 = ROL(a4 ^ d4, 27); \
        b6 = ROL(a9 ^ d4, 20); \
        b22 = ROL(a14 ^ d4, 39); \
        b13 = ROL(a19 ^ d4, 8); \
        b4 = ROL(a24 ^ d4, 14); \
        a0 = b0 ^ (~b1 & b2); \
        a1 = b1 ^ (~b2 & b3); \
        a2 = b2 ^ (~b3 & b4); \
        a3 = b3 ^ (~b4 & b0); \
        a4 = b4 ^ (~b0 & b1); \
        a5 = b5 ^ (~b6 & b7); \
        a6 = b6 ^ (~b7 & b8); \
        a7 = b7 ^ (~b8 & b9); \
        a8 = b8 ^ (~b9 & b5); \
        a9 = b9 ^ (~b5 & b6); \
        a10 = b10 ^ (~b11 & b12); \
        a11 = b11 ^ (~b12 & b13); \
        a12 = b12 ^ (~b13 & b14); \
        a13 = b13 ^ (~b14 & b10); \
        a14 = b14 ^ (~b10 & b11); \
        a15 = b15 ^ (~b16 & b17); \
        a16 = b16 ^ (~b17 & b18); \
        a17 = b17 ^ (~b18 & b19); \
        a18 = b18 ^ (~b19 & b15); \
        a19 = b19 ^ (~b15 & b16); \
        a20 = b20 ^ (~b21 & b22); \
        a21 = b21 ^ (~b22 & b23); \
        a22 = b22 ^ (~b23 & b24); \
        a23 = b23 ^ (~b24 & b20); \
        a24 = b24 ^ (~b20 & b21); \
        a0 ^= KECCAK_RC[r]; \
    } \
    s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3; s[4] = a4; s[5] = a5; s[6] = a6; s[7] = a7; s[8] = a8; s[9] = a9; s[10] = a10; s[11] = a11; s[12] = a12; s[13] = a13; s[14] = a14; s[15] = a15; s[16] = a16; s[17] = a17; s[18] = a18; s[19] = a19; s[20] = a20; s[21] = a21; s[22] = a22; s[23] = a23; s[24] = a24; \
}

static uint64_t load64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void store64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

DEFINE_PERMUTE(permute_scalar, uint64_t, )

/* One-shot DeepSeekHashV1 of any input (scalar). */
static void hash_v1(const uint8_t *data, size_t len, uint8_t out[32]) {
    uint64_t s[25] = {0};
    uint8_t block[RATE];
    size_t off = 0;
    for (;;) {
        size_t take = len - off < RATE ? len - off : RATE;
        memset(block, 0, RATE);
        memcpy(block, data + off, take);
        if (take == RATE) {
            for (int k = 0; k < RATE_WORDS; k++) s[k] ^= load64(block + 8 * k);
            permute_scalar(s);
            off += RATE;
            continue;
        }
        block[take] ^= 0x06;
        block[RATE - 1] ^= 0x80;
        for (int k = 0; k < RATE_WORDS; k++) s[k] ^= load64(block + 8 * k);
        permute_scalar(s);
        break;
    }
    for (int k = 0; k < 4; k++) store64(out + 8 * k, s[k]);
}

/* Everything a kernel needs to scan nonces that all have `digits` decimal digits. */
typedef struct {
    uint64_t base[25];        /* state after the prefix blocks that hold no digit */
    uint8_t tail[2 * RATE];   /* last block(s): rest of prefix, digit slots, padding */
    uint64_t tail_words[2 * RATE_WORDS];
    int tail_prefix;          /* prefix bytes in the tail */
    int digits;
    int blocks;               /* 1, or 2 when prefix + digits + pad crosses a block boundary */
    int first_word, last_word; /* tail words touched by the digits */
    uint64_t target[4];
} segment_t;

typedef struct {
    const uint8_t *prefix;
    size_t prefix_len;
    uint64_t base[25];
    uint64_t target[4];
} job_t;

static int count_digits(uint64_t n) {
    int d = 1;
    while (n >= 10) { n /= 10; d++; }
    return d;
}

static void write_digits(uint8_t *p, int digits, uint64_t n) {
    for (int i = digits - 1; i >= 0; i--) { p[i] = (uint8_t)('0' + n % 10); n /= 10; }
}

static void segment_init(segment_t *seg, const job_t *job, int digits) {
    size_t full = (job->prefix_len / RATE) * RATE;
    int t = (int)(job->prefix_len - full);
    memcpy(seg->base, job->base, sizeof seg->base);
    memcpy(seg->target, job->target, sizeof seg->target);
    memset(seg->tail, 0, sizeof seg->tail);
    memcpy(seg->tail, job->prefix + full, (size_t)t);
    memset(seg->tail + t, '0', (size_t)digits);
    seg->tail_prefix = t;
    seg->digits = digits;
    seg->blocks = (t + digits) / RATE + 1;
    seg->tail[t + digits] ^= 0x06;
    seg->tail[seg->blocks * RATE - 1] ^= 0x80;
    for (int k = 0; k < 2 * RATE_WORDS; k++) seg->tail_words[k] = load64(seg->tail + 8 * k);
    seg->first_word = t / 8;
    seg->last_word = (t + digits - 1) / 8;
}

/* A kernel scans [lo, hi) (one digit count) and returns the first match or -1. */
typedef int64_t (*kernel_fn)(const segment_t *seg, uint64_t lo, uint64_t hi);

#define DEFINE_KERNEL(NAME, PERMUTE, T, W, ATTR) \
static ATTR int64_t NAME(const segment_t *seg, uint64_t lo, uint64_t hi) { \
    uint8_t buf[W][2 * RATE]; \
    const int t = seg->tail_prefix, d = seg->digits, nb = seg->blocks; \
    for (int j = 0; j < W; j++) memcpy(buf[j], seg->tail, sizeof buf[j]); \
    for (uint64_t n = lo; n < hi; n += W) { \
        T st[25]; \
        for (int i = 0; i < 25; i++) st[i] = (T){0} + seg->base[i]; \
        for (int j = 0; j < W; j++) write_digits(buf[j] + t, d, n + (uint64_t)j < hi ? n + (uint64_t)j : n); \
        for (int b = 0; b < nb; b++) { \
            for (int k = 0; k < RATE_WORDS; k++) { \
                int kk = b * RATE_WORDS + k; \
                if (kk >= seg->first_word && kk <= seg->last_word) { \
                    uint64_t lanes[W]; \
                    T v; \
                    for (int j = 0; j < W; j++) lanes[j] = load64(buf[j] + 8 * kk); \
                    memcpy(&v, lanes, sizeof v); \
                    st[k] ^= v; \
                } else { \
                    st[k] ^= seg->tail_words[kk]; \
                } \
            } \
            PERMUTE(st); \
        } \
        uint64_t out[4][W]; \
        memcpy(out[0], &st[0], sizeof out[0]); \
        for (int j = 0; j < W; j++) { \
            if (out[0][j] != seg->target[0] || n + (uint64_t)j >= hi) continue; \
            memcpy(out[1], &st[1], sizeof out[1]); \
            memcpy(out[2], &st[2], sizeof out[2]); \
            memcpy(out[3], &st[3], sizeof out[3]); \
            if (out[1][j] == seg->target[1] && out[2][j] == seg->target[2] && \
                out[3][j] == seg->target[3]) return (int64_t)(n + (uint64_t)j); \
        } \
    } \
    return -1; \
}

DEFINE_KERNEL(kernel_scalar, permute_scalar, uint64_t, 1, )

#if DS_VECTORS
typedef uint64_t v2u64 __attribute__((vector_size(16)));
DEFINE_PERMUTE(permute_v2, v2u64, )
DEFINE_KERNEL(kernel_v2, permute_v2, v2u64, 2, )
#endif

#if DS_AVX2
typedef uint64_t v4u64 __attribute__((vector_size(32)));
DEFINE_PERMUTE(permute_v4, v4u64, __attribute__((target("avx2"))))
DEFINE_KERNEL(kernel_v4, permute_v4, v4u64, 4, __attribute__((target("avx2"))))
#endif

typedef struct {
    const char *name;
    kernel_fn fn;
} kernel_t;

#if defined(__aarch64__)
#define V2_NAME "neon"
#elif defined(__x86_64__) || defined(_M_X64)
#define V2_NAME "sse2"
#else
#define V2_NAME "vec128"
#endif

/* Kernels usable on this CPU, slowest first. */
static int available_kernels(kernel_t *out) {
    int n = 0;
    out[n++] = (kernel_t){"scalar", kernel_scalar};
#if DS_VECTORS
    out[n++] = (kernel_t){V2_NAME, kernel_v2};
#endif
#if DS_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) out[n++] = (kernel_t){"avx2", kernel_v4};
#endif
    return n;
}

/* Scan [lo, hi) split at digit-count boundaries. */
static int64_t scan_range(const job_t *job, kernel_fn fn, uint64_t lo, uint64_t hi) {
    segment_t seg;
    while (lo < hi) {
        int d = count_digits(lo);
        uint64_t limit = 1;
        for (int i = 0; i < d && limit <= UINT64_MAX / 10; i++) limit *= 10;
        uint64_t end = (d < 20 && limit < hi) ? limit : hi;
        segment_init(&seg, job, d);
        int64_t r = fn(&seg, lo, end);
        if (r >= 0) return r;
        lo = end;
    }
    return -1;
}

typedef struct {
    const job_t *job;
    kernel_fn fn;
    uint64_t difficulty;
    uint64_t next;  /* next chunk start, shared */
    int64_t best;   /* smallest answer found, INT64_MAX when none; shared */
} shared_t;

static void *worker(void *arg) {
    shared_t *sh = (shared_t *)arg;
    for (;;) {
#if DS_THREADS
        uint64_t lo = __atomic_fetch_add(&sh->next, CHUNK, __ATOMIC_RELAXED);
        if (lo >= sh->difficulty || (int64_t)lo >= __atomic_load_n(&sh->best, __ATOMIC_RELAXED)) break;
#else
        uint64_t lo = sh->next;
        sh->next += CHUNK;
        if (lo >= sh->difficulty || (int64_t)lo >= sh->best) break;
#endif
        uint64_t hi = lo + CHUNK < sh->difficulty ? lo + CHUNK : sh->difficulty;
        int64_t r = scan_range(sh->job, sh->fn, lo, hi);
        if (r < 0) continue;
#if DS_THREADS
        int64_t cur = __atomic_load_n(&sh->best, __ATOMIC_RELAXED);
        while (r < cur && !__atomic_compare_exchange_n(&sh->best, &cur, r, 0, __ATOMIC_RELAXED,
                                                        __ATOMIC_RELAXED)) {
        }
#else
        if (r < sh->best) sh->best = r;
#endif
    }
    return NULL;
}

static int64_t solve(const job_t *job, kernel_fn fn, uint64_t difficulty, int threads) {
    shared_t sh = {job, fn, difficulty, 0, INT64_MAX};
#if DS_THREADS
    pthread_t tids[64];
    int started = 0;
    for (int i = 1; i < threads && i < 64; i++) {
        if (pthread_create(&tids[started], NULL, worker, &sh) == 0) started++;
    }
    worker(&sh);
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
#else
    (void)threads;
    worker(&sh);
#endif
    return sh.best == INT64_MAX ? -1 : sh.best;
}

/* ---- Python bindings ---------------------------------------------------------------------- */

static PyObject *py_hash(PyObject *self, PyObject *arg) {
    Py_buffer view;
    uint8_t out[32];
    (void)self;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    hash_v1((const uint8_t *)view.buf, (size_t)view.len, out);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

static PyObject *py_kernels(PyObject *self, PyObject *unused) {
    kernel_t ks[4];
    int n = available_kernels(ks);
    PyObject *tuple = PyTuple_New(n);
    (void)self;
    (void)unused;
    if (tuple == NULL) return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *name = PyUnicode_FromString(ks[i].name);
        if (name == NULL) { Py_DECREF(tuple); return NULL; }
        PyTuple_SET_ITEM(tuple, i, name);
    }
    return tuple;
}

static PyObject *py_solve(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"target", "prefix", "difficulty", "kernel", "threads", NULL};
    Py_buffer target, prefix;
    unsigned long long difficulty;
    const char *kernel_name;
    int threads;
    kernel_t ks[4];
    kernel_fn fn = NULL;
    job_t job;
    int64_t answer;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*Ksi", keywords, &target, &prefix, &difficulty,
                                     &kernel_name, &threads))
        return NULL;
    int n = available_kernels(ks);
    for (int i = 0; i < n; i++)
        if (strcmp(ks[i].name, kernel_name) == 0) fn = ks[i].fn;
    if (target.len != 32 || fn == NULL || threads < 1 || difficulty > (1ULL << 62)) {
        PyBuffer_Release(&target);
        PyBuffer_Release(&prefix);
        PyErr_SetString(PyExc_ValueError, fn == NULL ? "kernel not available on this CPU"
                                                      : "target must be 32 bytes, threads >= 1, "
                                                        "difficulty <= 2**62");
        return NULL;
    }
    job.prefix = (const uint8_t *)prefix.buf;
    job.prefix_len = (size_t)prefix.len;
    memset(job.base, 0, sizeof job.base);
    for (int k = 0; k < 4; k++) job.target[k] = load64((const uint8_t *)target.buf + 8 * k);
    Py_BEGIN_ALLOW_THREADS
    for (size_t off = 0; off + RATE <= job.prefix_len; off += RATE) {
        for (int k = 0; k < RATE_WORDS; k++) job.base[k] ^= load64(job.prefix + off + 8 * k);
        permute_scalar(job.base);
    }
    answer = solve(&job, fn, (uint64_t)difficulty, threads);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&target);
    PyBuffer_Release(&prefix);
    return PyLong_FromLongLong(answer);
}

static PyMethodDef methods[] = {
    {"hash", py_hash, METH_O, "hash(data) -> 32-byte DeepSeekHashV1 digest"},
    {"kernels", py_kernels, METH_NOARGS, "kernels() -> names usable on this CPU, slowest first"},
    {"solve", (PyCFunction)(void (*)(void))py_solve, METH_VARARGS | METH_KEYWORDS,
     "solve(target, prefix, difficulty, kernel, threads) -> n in [0, difficulty) or -1"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
