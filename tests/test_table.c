/* tests/test_table.c — core/table: insertion-ordered bounded hash table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "core/table.h"
#include "tests/mock_env.h"

static const uint8_t hkey[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void key_of(uint32_t n, uint8_t key[16]) {
    memset(key, 0, 16);
    memcpy(key, &n, sizeof n);
}

static void test_basic(void **state) {
    (void)state;
    mock_env m;
    mock_env_init(&m, 1);
    tp_table t;
    tp_table_init(&t, &m.env, 16, sizeof(uint32_t), 100, hkey);
    uint8_t k[16];
    void *v;
    assert_null(tp_table_get(&t, k));
    for (uint32_t i = 0; i < 50; i++) {
        key_of(i, k);
        assert_int_equal(tp_table_insert(&t, k, &v), TP_OK);
        *(uint32_t *)v = i * 10;
    }
    key_of(7, k);
    assert_int_equal(tp_table_insert(&t, k, &v), TP_ERR_EXISTS);
    assert_int_equal(*(uint32_t *)v, 70);
    assert_int_equal(tp_table_count(&t), 50);
    for (uint32_t i = 0; i < 50; i += 2) {
        key_of(i, k);
        assert_true(tp_table_remove(&t, k));
        assert_false(tp_table_remove(&t, k));
    }
    /* iteration order = insertion order of the survivors */
    uint32_t it = 0, expect = 1, n = 0;
    const void *key;
    while (tp_table_next(&t, &it, &key, &v)) {
        assert_int_equal(*(uint32_t *)v, expect * 10);
        expect += 2;
        n++;
    }
    assert_int_equal(n, 25);
    /* touch moves 1 to the end */
    key_of(1, k);
    assert_true(tp_table_touch(&t, k));
    const void *fk;
    assert_true(tp_table_first(&t, &fk, &v));
    assert_int_equal(*(uint32_t *)v, 30);
    it = 0;
    uint32_t last = 0;
    while (tp_table_next(&t, &it, NULL, &v)) last = *(uint32_t *)v;
    assert_int_equal(last, 10);
    tp_table_clear(&t);
    assert_int_equal(tp_table_count(&t), 0);
    assert_false(tp_table_first(&t, NULL, NULL));
    tp_table_deinit(&t);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
}

static void test_limit(void **state) {
    (void)state;
    mock_env m;
    mock_env_init(&m, 2);
    tp_table t;
    tp_table_init(&t, &m.env, 4, 0, 3, hkey);
    void *v;
    uint32_t a = 1, b = 2, c = 3, d = 4;
    assert_int_equal(tp_table_insert(&t, &a, &v), TP_OK);
    assert_int_equal(tp_table_insert(&t, &b, &v), TP_OK);
    assert_int_equal(tp_table_insert(&t, &c, &v), TP_OK);
    assert_int_equal(tp_table_insert(&t, &d, &v), TP_ERR_LIMIT);
    assert_true(tp_table_remove(&t, &b));
    assert_int_equal(tp_table_insert(&t, &d, &v), TP_OK);
    assert_true(tp_table_touch(&t, &a)); /* at the limit, touch still works */
    uint32_t order[3], i = 0, it = 0;
    const void *key;
    while (tp_table_next(&t, &it, &key, NULL)) memcpy(&order[i++], key, 4);
    assert_int_equal(i, 3);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 4);
    assert_int_equal(order[2], 1);
    tp_table_deinit(&t);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
}

/* Random operations against a plain array model, including removal during iteration
 * and touches at the limit (where the entry array must grow by one, then compact). */
static void run_model(uint64_t seed, uint32_t MAX, uint32_t KEYS) {
    printf("seed %llu max %u keys %u\n", (unsigned long long)seed, MAX, KEYS);
    mock_env m;
    mock_env_init(&m, seed);
    tp_table t;
    tp_table_init(&t, &m.env, 16, 8, MAX, hkey);
    uint32_t model[500];
    uint64_t model_val[500];
    assert_true(MAX <= 500);
    uint32_t model_n = 0;
    uint8_t k[16];
    for (int step = 0; step < 20000; step++) {
        uint32_t r = (uint32_t)tp_env_random_below(&m.env, 100);
        uint32_t id = (uint32_t)tp_env_random_below(&m.env, KEYS);
        key_of(id, k);
        int pos = -1;
        for (uint32_t i = 0; i < model_n; i++)
            if (model[i] == id) pos = (int)i;
        void *v;
        if (r < 55) {
            tp_err e = tp_table_insert(&t, k, &v);
            if (pos >= 0) {
                assert_int_equal(e, TP_ERR_EXISTS);
                assert_memory_equal(v, &model_val[pos], 8);
            } else if (model_n == MAX) {
                assert_int_equal(e, TP_ERR_LIMIT);
            } else {
                assert_int_equal(e, TP_OK);
                uint64_t val = (uint64_t)step << 32 | id;
                memcpy(v, &val, 8);
                model[model_n] = id;
                model_val[model_n++] = val;
            }
        } else if (r < 85) {
            assert_int_equal(tp_table_remove(&t, k), pos >= 0);
            if (pos >= 0) {
                memmove(&model[pos], &model[pos + 1], (model_n - pos - 1) * sizeof model[0]);
                memmove(&model_val[pos], &model_val[pos + 1], (model_n - pos - 1) * 8);
                model_n--;
            }
        } else if (r < 95) {
            assert_int_equal(tp_table_touch(&t, k), pos >= 0);
            if (pos >= 0) {
                uint32_t mid = model[pos];
                uint64_t mv = model_val[pos];
                memmove(&model[pos], &model[pos + 1], (model_n - pos - 1) * sizeof model[0]);
                memmove(&model_val[pos], &model_val[pos + 1], (model_n - pos - 1) * 8);
                model[model_n - 1] = mid;
                model_val[model_n - 1] = mv;
            }
        } else {
            /* remove every entry whose id is divisible by 3, during iteration */
            uint32_t it = 0;
            const void *key;
            while (tp_table_next(&t, &it, &key, &v)) {
                uint32_t kid;
                memcpy(&kid, key, 4);
                if (kid % 3 == 0) tp_table_remove_current(&t, it);
            }
            uint32_t w = 0;
            for (uint32_t i = 0; i < model_n; i++)
                if (model[i] % 3 != 0) {
                    model[w] = model[i];
                    model_val[w++] = model_val[i];
                }
            model_n = w;
        }
        assert_int_equal(tp_table_count(&t), model_n);
        if (step % 97 == 0) {
            uint32_t it = 0, i = 0;
            const void *key;
            while (tp_table_next(&t, &it, &key, &v)) {
                assert_true(i < model_n);
                uint32_t kid;
                memcpy(&kid, key, 4);
                assert_int_equal(kid, model[i]);
                assert_memory_equal(v, &model_val[i], 8);
                i++;
            }
            assert_int_equal(i, model_n);
        }
    }
    tp_table_deinit(&t);
    assert_int_equal(mock_env_bytes_allocated(&m), 0);
}

static void test_model(void **state) {
    (void)state;
    run_model(42, 500, 800);
    run_model(43, 3, 6);
    run_model(44, 4, 9);
    run_model(45, 1, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
