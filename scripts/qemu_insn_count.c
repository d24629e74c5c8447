/* A qemu TCG plugin (qemu 7.x, plugin API version 1) that counts the guest instructions a
 * user-mode process executes, and among them the 4-lane f32 vector arithmetic: FMLA (fused
 * multiply-add), FMUL and FADD on .4s. Prints the counts at exit. Counters are plain inline adds,
 * so counts are exact for one guest thread (run the model on one thread).
 *
 * Build: gcc -shared -fPIC -O2 -o insn_count.so scripts/qemu_insn_count.c
 * Use:   qemu-aarch64 -plugin ./insn_count.so -d plugin PROGRAM ...
 *
 * Debian ships no qemu-plugin.h, so the few declarations used are written out here, as qemu 7.2
 * defines them (include/qemu/qemu-plugin.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t total, fmla, fmul, fadd;

/* `mnemonic` followed by a .4s operand: a 4-lane f32 vector operation. */
static int vec4s(const char *d, const char *mnemonic) {
    size_t n = strlen(mnemonic);
    return strncmp(d, mnemonic, n) == 0 && d[n] == ' ' && strstr(d, ".4s") != NULL;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        char *d = qemu_plugin_insn_disas(insn);
        uint64_t *counter = NULL;
        if (d != NULL) {
            if (vec4s(d, "fmla")) counter = &fmla;
            else if (vec4s(d, "fmul")) counter = &fmul;
            else if (vec4s(d, "fadd")) counter = &fadd;
            free(d);
        }
        if (counter != NULL) qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, counter, 1);
    }
}

static void at_exit(qemu_plugin_id_t id, void *userdata) {
    (void)id;
    (void)userdata;
    char line[256];
    snprintf(line, sizeof line, "insn_count: total %llu fmla.4s %llu fmul.4s %llu fadd.4s %llu\n",
             (unsigned long long)total, (unsigned long long)fmla, (unsigned long long)fmul,
             (unsigned long long)fadd);
    qemu_plugin_outs(line);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                                               char **argv) {
    (void)info;
    (void)argc;
    (void)argv;
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
