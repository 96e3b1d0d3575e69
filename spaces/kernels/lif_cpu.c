/* The multi-step neuron loop for float32 on CPU: one pass over (T, n) forward, one reverse-time
 * pass backward. Compiled on first use by native_cpu.py and called through ctypes on contiguous
 * tensors, so it includes no torch headers (they would take half a minute to compile).
 *
 * The arithmetic is fused.py's, operation for operation where it decides the spikes:
 * - charge is torch's CPU lerp, which computes fma(c, end - start, base) with c = w, base = start
 *   where |w| < 0.5, and c = w - 1, base = end otherwise (ATen's lerp_vec; checked by the tests);
 * - the threshold test is u >= V_th in float32, the reset exact (V_r, or u - V_th);
 * so the membrane potentials and spikes equal the fused op's and the step-by-step loop's bit for
 * bit. The backward equals theirs up to float rounding (sums in another order, an exp of its own).
 * Built with -ffp-contract=off: every fused multiply-add here is an explicit fmaf.
 *
 * Both walk the neurons in blocks of BLOCK columns, one block per OpenMP iteration, and over
 * time inside a block, so a block's state (V forward, dL/dH[t+1] backward) stays in L1 and each
 * element of x, H, S, dL/dS and dL/dX crosses memory once. The inner loops over a block's columns
 * have no calls and no loop-carried dependence, so the compiler vectorises them.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define BLOCK 1024
#define PI 3.14159265358979323846

enum { SIGMOID, ATAN, RECT, TRIANGLE, ERF, DSPIKE };

/* A neuron configuration, as NeuronConfig has it (native_cpu.LifConfig mirrors this layout). */
typedef struct {
    float v_threshold;
    float v_reset; /* only with hard_reset */
    int32_t hard_reset;
    int32_t decay_input;
    int32_t detach_reset;
    int32_t surrogate;
    int32_t klif;
    double alpha;
} lif_config;

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* exp(x) to about 2 ulp, branch-free so that loops calling it vectorise (libm's expf does not
 * without -ffast-math): Cephes' expf, with the range clamped so that 2^n stays a normal float. */
static inline __attribute__((always_inline)) float exp_f(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* n = x log2(e) rounded to the nearest integer, by adding and subtracting 1.5 * 2^23 (exact
     * with contraction off): floorf, or a conversion to int and back, would keep the loop from
     * vectorising. */
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Constants of a surrogate, computed once in double and rounded to float as torch rounds a
 * Python scalar against a float32 tensor. */
typedef struct {
    float a, b;
} surrogate_consts;

static surrogate_consts surrogate_setup(int32_t kind, double alpha) {
    surrogate_consts c = {(float)alpha, 0.0f};
    switch (kind) {
    case ATAN: c.a = (float)(PI / 2.0 * alpha); c.b = (float)(alpha / 2.0); break;
    case RECT: c.b = (float)(0.5 / alpha); break;
    case TRIANGLE: c.b = (float)(-alpha * alpha); break;
    case ERF: c.a = (float)(-(alpha * alpha)); c.b = (float)(alpha / sqrt(PI)); break;
    case DSPIKE: c.b = (float)(alpha / (2.0 * tanh(alpha))); break;
    default: break;
    }
    return c;
}

/* g'(z, alpha), as spaces/surrogates.py writes each one. */
static inline __attribute__((always_inline)) float surrogate_grad(int32_t kind,
                                                                  surrogate_consts c, float z) {
    switch (kind) {
    case SIGMOID: { /* alpha s (1 - s), s = sigmoid(alpha z) */
        const float s = 1.0f / (1.0f + exp_f(-(z * c.a)));
        return c.a * (1.0f - s) * s;
    }
    case ATAN: { /* alpha / 2 / (1 + (pi/2 alpha z)^2) */
        const float q = z * c.a;
        return 1.0f / (q * q + 1.0f) * c.b;
    }
    case RECT: /* alpha where |z| < 1 / (2 alpha) */
        return fabsf(z) < c.b ? c.a : 0.0f;
    case TRIANGLE: { /* max(0, alpha - alpha^2 |z|) */
        const float g = fabsf(z) * c.b + c.a;
        return g < 0.0f ? 0.0f : g;
    }
    case ERF: /* alpha / sqrt(pi) exp(-alpha^2 z^2) */
        return exp_f(z * z * c.a) * c.b;
    default: { /* dspike: alpha (1 - tanh(alpha z)^2) / (2 tanh(alpha)) on |z| <= 1 */
        /* 1 - tanh(q)^2 = 4 e / (1 + e)^2 with e = exp(-2 |q|): no cancellation near 0. */
        const float e = exp_f(-2.0f * fabsf(z * c.a));
        const float sech2 = 4.0f * e / ((1.0f + e) * (1.0f + e));
        return fabsf(z) <= 1.0f ? sech2 * c.b : 0.0f;
    }
    }
}

/* a where the mask is all ones, b where it is 0, exactly, through the bits. For choices fixed
 * by the configuration: GCC 12 does not vectorise a select on a loop-invariant condition
 * (flag ? a : b), where a select on a comparison of loop data it does. */
static inline float pick(int32_t mask, float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    const int32_t r = (ia & mask) | (ib & ~mask);
    float out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/* The configuration as plain numbers, copied out of lif_config at the top of each block (loads
 * through a struct inside the OpenMP region could alias the stores to the outputs, which would
 * keep the loops from vectorising). Choices the configuration fixes are either masks for pick
 * (all ones where the flag is set) or coefficients that make one formula serve every
 * configuration exactly, which costs the loops fewer operations than computing both sides. */
typedef struct {
    float vth, v_reset, rest; /* rest: V_r for a hard reset, 0 for a soft one */
    int32_t hard, decay_input; /* masks */
    /* u = max(H kk, lo): ReLU(k H) for KLIF (kk = k, lo = 0); H itself otherwise (kk = 1,
     * lo = -inf: both exact). dU/dH is kk where H kk > lo, else flat (0 for KLIF, 1 otherwise). */
    float kk, lo, flat;
    /* dV/du = (u < V_th ? 1 : below) + (slope_u u + offset) sg:
     *   hard reset (1 - S) + (V_r - u) sg:  below 0, slope_u -1, offset V_r
     *   soft reset 1 - V_th sg:            below 1, slope_u 0,  offset -V_th
     * and with detach_reset no sg term: slope_u = offset = 0. */
    float below, slope_u, offset;
} flags;

static inline flags flags_of(const lif_config *cfg, float k) {
    const int hard = cfg->hard_reset, attached = !cfg->detach_reset;
    const flags f = {
        .vth = cfg->v_threshold,
        .v_reset = cfg->v_reset,
        .rest = hard ? cfg->v_reset : 0.0f,
        .hard = hard ? -1 : 0,
        .decay_input = cfg->decay_input ? -1 : 0,
        .kk = cfg->klif ? k : 1.0f,
        .lo = cfg->klif ? 0.0f : -INFINITY,
        .flat = cfg->klif ? 0.0f : 1.0f,
        .below = hard ? 0.0f : 1.0f,
        .slope_u = hard && attached ? -1.0f : 0.0f,
        .offset = !attached ? 0.0f : hard ? cfg->v_reset : -cfg->v_threshold,
    };
    return f;
}

/* The potential the threshold and reset act on: H, or ReLU(k H) for KLIF. */
static inline float fire_on(flags f, float h) {
    const float u = h * f.kk;
    return u < f.lo ? f.lo : u;
}

/* V[t] from u and its spike: exactly V_r, or u - V_th, where it fires. */
static inline float reset(flags f, float u, int fired) {
    return fired ? pick(f.hard, f.v_reset, u - f.vth) : u;
}

/* One block of columns of the forward: x, h, s point at column j0 of row 0. keep_h is a constant
 * at each call, so the loop without potentials to keep (inference) has no store to skip. */
static inline __attribute__((always_inline)) void forward_block(
    const lif_config *cfg, const float *restrict x, float *restrict h, float *restrict s,
    int64_t steps, int64_t n, int64_t width, float decay, float k, int keep_h) {
    const flags f = flags_of(cfg, k);
    float v[BLOCK];
    memset(v, 0, sizeof v);
    const int small = fabsf(decay) < 0.5f;
    const float coeff = small ? decay : decay - 1.0f;
    for (int64_t t = 0; t < steps; t++) {
        const float *restrict xt = x + t * n;
        float *restrict st = s + t * n;
        for (int64_t j = 0; j < width; j++) {
            const float vj = v[j], xj = xt[j];
            /* Both conventions, then a select: decay-input lerp(V, X + V_r, d), leak-factor
             * lerp(V, V_r, d) + X (X + 0 where V_r = 0 is X, up to the sign of a zero). */
            const float target = xj + f.rest;
            const float charged = fmaf(coeff, target - vj, small ? vj : target);
            const float leaked = fmaf(coeff, f.rest - vj, small ? vj : f.rest) + xj;
            const float hj = pick(f.decay_input, charged, leaked);
            if (keep_h) h[t * n + j] = hj;
            const float u = fire_on(f, hj);
            const int fired = u >= f.vth;
            st[j] = fired ? 1.0f : 0.0f;
            v[j] = reset(f, u, fired);
        }
    }
}

/* Spikes s (steps, n) of x (steps, n); the pre-reset potentials into h unless h is NULL. */
void lif_forward(const lif_config *cfg, const float *x, float *h, float *s, int64_t steps,
                 int64_t n, float decay, float k, int32_t threads) {
    const int64_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for num_threads(threads) schedule(static) if (blocks > 1)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t j0 = b * BLOCK, width = min64(BLOCK, n - j0);
        if (h)
            forward_block(cfg, x + j0, h + j0, s + j0, steps, n, width, decay, k, 1);
        else
            forward_block(cfg, x + j0, NULL, s + j0, steps, n, width, decay, k, 0);
    }
}

/* One block of the backward, walking time backwards:
 *   dL/du[t] = dL/dS[t] sg + dL/dV[t] dV/du,   dL/dV[t] = dL/dH[t+1] (1 - d)
 *   dL/dH[t] = dL/du[t] (times k 1[k H > 0] for KLIF);   dL/dX[t] = dL/dH[t] (times d, decay-input)
 * and, with want_params, this block's shares of dL/dd = sum dL/dH dH/dd and of
 * dL/dk = sum dL/du H 1[k H > 0]. kind and want_params are constants at each call. */
static inline __attribute__((always_inline)) void backward_block(
    const lif_config *cfg, int32_t kind, surrogate_consts sc, const float *restrict h,
    const float *restrict gs, float *restrict gx, int64_t steps, int64_t n, int64_t width,
    float decay, float k, int want_params, double *grads) {
    const flags f = flags_of(cfg, k);
    float g_next[BLOCK], acc_decay[BLOCK], acc_k[BLOCK];
    memset(g_next, 0, sizeof g_next);
    if (want_params) {
        memset(acc_decay, 0, sizeof acc_decay);
        memset(acc_k, 0, sizeof acc_k);
    }
    const float keep = 1.0f - decay;
    const float x_scale = f.decay_input ? decay : 1.0f; /* dH/dX */
    for (int64_t t = steps - 1; t >= 0; t--) {
        const float *restrict ht = h + t * n;
        /* H[t-1], for V[t-1] in dH/dd; at t = 0 a valid row whose V[-1] is replaced by 0. */
        const float *restrict hp = t > 0 ? ht - n : ht;
        const int32_t first = t == 0 ? -1 : 0;
        const float *restrict gst = gs + t * n;
        float *restrict gxt = gx + t * n;
        for (int64_t j = 0; j < width; j++) {
            const float hj = ht[j];
            const float hk = hj * f.kk;
            const float u = hk < f.lo ? f.lo : hk;
            const float sg = surrogate_grad(kind, sc, u - f.vth);
            const float through = (u < f.vth ? 1.0f : f.below) + (f.slope_u * u + f.offset) * sg;
            const float gu = fmaf(keep * g_next[j], through, gst[j] * sg);
            const int active = hk > f.lo; /* where dU/dH is kk, not flat */
            const float gh = gu * (active ? f.kk : f.flat);
            gxt[j] = gh * x_scale;
            g_next[j] = gh;
            if (want_params) {
                acc_k[j] += active ? gu * hj : 0.0f;
                const float up = fire_on(f, hp[j]);
                const float v_prev = pick(first, 0.0f, reset(f, up, up >= f.vth));
                const float dh_dd = pick(f.decay_input, (hj - v_prev) / decay, f.rest - v_prev);
                acc_decay[j] += gh * dh_dd;
            }
        }
    }
    if (!want_params) return;
    /* Sums over time stay per column (a vectorisable loop above); over columns, in double. */
    for (int64_t j = 0; j < width; j++) {
        grads[0] += acc_decay[j];
        grads[1] += acc_k[j];
    }
}

/* One block with the surrogate and want_params as constants, so every inner loop is specialised
 * for them (a switch inside the loop would keep it from vectorising). */
static void backward_specialised(const lif_config *cfg, surrogate_consts sc, const float *h,
                                 const float *gs, float *gx, int64_t steps, int64_t n,
                                 int64_t width, float decay, float k, int want_params,
                                 double *grads) {
#define BLOCK_WITH(KIND)                                                                        \
    if (want_params)                                                                            \
        backward_block(cfg, KIND, sc, h, gs, gx, steps, n, width, decay, k, 1, grads);          \
    else                                                                                        \
        backward_block(cfg, KIND, sc, h, gs, gx, steps, n, width, decay, k, 0, grads);          \
    break;
    switch (cfg->surrogate) {
    case SIGMOID: BLOCK_WITH(SIGMOID)
    case ATAN: BLOCK_WITH(ATAN)
    case RECT: BLOCK_WITH(RECT)
    case TRIANGLE: BLOCK_WITH(TRIANGLE)
    case ERF: BLOCK_WITH(ERF)
    default: BLOCK_WITH(DSPIKE)
    }
#undef BLOCK_WITH
}

/* dL/dX (steps, n) into gx from H and dL/dS; grads[0], grads[1] receive dL/dd and dL/dk when
 * want_params (dL/dk as the sum over active neurons: KLIF's only), else 0. */
void lif_backward(const lif_config *cfg, const float *h, const float *gs, float *gx,
                  int64_t steps, int64_t n, float decay, float k, int32_t want_params,
                  int32_t threads, double *grads) {
    const surrogate_consts sc = surrogate_setup(cfg->surrogate, cfg->alpha);
    const int64_t blocks = (n + BLOCK - 1) / BLOCK;
    double grad_decay = 0.0, grad_k = 0.0;
#pragma omp parallel for num_threads(threads) schedule(static) if (blocks > 1) \
    reduction(+ : grad_decay, grad_k)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t j0 = b * BLOCK;
        double part[2] = {0.0, 0.0};
        backward_specialised(cfg, sc, h + j0, gs + j0, gx + j0, steps, n, min64(BLOCK, n - j0),
                             decay, k, want_params, part);
        grad_decay += part[0];
        grad_k += part[1];
    }
    grads[0] = grad_decay;
    grads[1] = grad_k;
}
