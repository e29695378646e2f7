/* The simulator's seeded PRNG: xoshiro256** (Blackman & Vigna, 2018).
 *
 * Every random choice in a simulation (link jitter, torn writes, client
 * jitter through the runtime seam, chaos schedules) is drawn from one of
 * these, owned by the sim_ctx, so a scenario and a seed always give the same
 * run. The state is seeded from one 64-bit seed by running splitmix64
 * (Steele, Lea & Flood) four times, as the xoshiro authors recommend:
 *
 *     x += 0x9e3779b97f4a7c15; z = x;
 *     z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
 *     z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
 *     s[i] = z ^ (z >> 31);            for i = 0..3
 *
 * The struct is a plain value (no heap); copy it to fork a stream.
 */
#ifndef SIM_PRNG_H
#define SIM_PRNG_H

#include <stdint.h>

typedef struct sim_prng {
    uint64_t s[4];
} sim_prng;

/* Seed the state from `seed` through splitmix64 (any seed, 0 included). */
void sim_prng_seed(sim_prng *p, uint64_t seed);

/* Seed the state with four explicit words (not all zero). For tests. */
void sim_prng_seed_state(sim_prng *p, const uint64_t s[4]);

/* The next 64 random bits (xoshiro256**). */
uint64_t sim_prng_next(sim_prng *p);

/* A uniform draw in [0, n) without modulo bias (rejection sampling).
 * n == 0 returns 0 and draws nothing. */
uint64_t sim_prng_below(sim_prng *p, uint64_t n);

/* A uniform draw in [lo, hi] (inclusive). lo > hi returns lo. */
uint64_t sim_prng_range(sim_prng *p, uint64_t lo, uint64_t hi);

/* A uniform double in [0, 1) with 53 random bits. */
double sim_prng_double(sim_prng *p);

/* One splitmix64 step: advances *x and returns the mixed value. Exposed for
 * deriving independent sub-seeds (e.g. per node) from one seed. */
uint64_t sim_splitmix64(uint64_t *x);

#endif
