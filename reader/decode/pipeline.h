/* Reading on two threads: a helper thread decodes the capture into batches while the caller
 * replays the batches already filled, in order. With one core, or when no thread can be
 * started, the caller fills each batch itself when it takes it. Not for use inside malloc. */
#ifndef MEMTAP_READER_PIPELINE_H
#define MEMTAP_READER_PIPELINE_H

#include "decode/batch.h"
#include "decode/decoder.h"

typedef struct memtap_pipeline memtap_pipeline_t;

/* Starts decoding dec: from now until memtap_pipeline_stop only the pipeline uses dec.
 * Returns MEMTAP_OK, or MEMTAP_ERR_NOMEM. */
int memtap_pipeline_start(memtap_pipeline_t **pp, memtap_decoder_t *dec);

/* The next batch, in the capture's order (waits for it). After a batch that ends the
 * capture (end) or holds an error (rc), none follows. */
memtap_batch_t *memtap_pipeline_take(memtap_pipeline_t *p);

/* Hands back the batch taken last, for refilling. */
void memtap_pipeline_give(memtap_pipeline_t *p, memtap_batch_t *b);

/* Stops the helper thread (the decoder is the caller's again) and frees the batches. */
void memtap_pipeline_stop(memtap_pipeline_t *p);

#endif
