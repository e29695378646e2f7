/* xoshiro256** seeded through splitmix64: the simulator's PRNG (prng.h). */
#include "prng.h"

#include <stddef.h>

uint64_t sim_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_prng_seed(sim_prng *p, uint64_t seed)
{
    uint64_t x = seed;
    for (size_t i = 0; i < 4; i++)
        p->s[i] = sim_splitmix64(&x);
}

void sim_prng_seed_state(sim_prng *p, const uint64_t s[4])
{
    for (size_t i = 0; i < 4; i++)
        p->s[i] = s[i];
    /* The all-zero state is a fixed point; nudge it as splitmix64 would. */
    if ((s[0] | s[1] | s[2] | s[3]) == 0)
        sim_prng_seed(p, 0);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_prng_next(sim_prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t sim_prng_below(sim_prng *p, uint64_t n)
{
    if (n == 0)
        return 0;
    /* 2^64 mod n values at the bottom form a partial bucket; rejecting them
     * leaves a multiple of n values, so every residue is equally likely. */
    uint64_t threshold = (0 - n) % n;
    uint64_t v;
    do {
        v = sim_prng_next(p);
    } while (v < threshold);
    return v % n;
}

uint64_t sim_prng_range(sim_prng *p, uint64_t lo, uint64_t hi)
{
    if (lo >= hi)
        return lo;
    if (lo == 0 && hi == UINT64_MAX)
        return sim_prng_next(p);
    return lo + sim_prng_below(p, hi - lo + 1);
}

double sim_prng_double(sim_prng *p)
{
    return (double)(sim_prng_next(p) >> 11) * 0x1.0p-53;
}
