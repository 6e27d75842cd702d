"""The head's training on features computed once: Keras's `fit`, one graph call per epoch.

On features in memory, a head's training step is a few small matrix products: Keras's `fit`
drives each batch from Python, and its per-batch and per-epoch overhead (tens of milliseconds
an epoch for a dozen batches) was nearly all of the time of a head trained to convergence
(hundreds of epochs, a head per measured depth and per augmentation check). Here an epoch,
every shuffled batch's step and then the validation, is one call of a compiled function;
the loss (compile's, regularization included), optimizer and callbacks are the head's own.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
import tf_keras as keras


def fit_on_features(
    head: keras.Model,
    fit: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    callbacks: list[keras.callbacks.Callback],
    seed: int,
) -> keras.callbacks.History:
    """Trains the compiled `head` as `head.fit(*fit, batch_size=batch_size, epochs=epochs,
    validation_data=validation, callbacks=callbacks, shuffle=True)` would: the same loss,
    metrics' names (loss, accuracy, val_loss, val_accuracy) and callbacks, which see each
    epoch's logs and may stop the training (early stopping) or change the learning rate.
    Returns the History, as `fit` does.

    Under a distribution strategy with several replicas, each replica takes every step on the
    same batch and their gradients are summed over the compiled loss's 1/replicas scaling:
    the mean gradient, as one device would take it (the batches are a few kilobytes).
    """
    strategy = tf.distribute.get_strategy()
    fit_x, fit_y = tf.constant(fit[0]), tf.constant(fit[1])
    validation_x, validation_y = tf.constant(validation[0]), tf.constant(validation[1])
    count = len(fit[1])
    steps = math.ceil(count / batch_size)
    head.optimizer.build(head.trainable_variables)

    def train_step(images, labels):
        with tf.GradientTape() as tape:
            predictions = head(images, training=True)
            loss = head.compute_loss(images, labels, predictions)
        gradients = tape.gradient(loss, head.trainable_variables)
        head.optimizer.apply_gradients(zip(gradients, head.trainable_variables, strict=True))
        return loss, _correct(labels, predictions)

    def validation_step(images, labels):
        predictions = head(images, training=False)
        return head.compute_loss(images, labels, predictions), _correct(labels, predictions)

    def unscaled(per_replica):
        """The replicas' (scaled loss, correct count), back to one device's numbers."""
        loss, correct = per_replica
        return (
            strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
            strategy.reduce(tf.distribute.ReduceOp.MEAN, correct, axis=None),
        )

    @tf.function
    def run_epoch(order):
        loss_sum, correct_sum = tf.constant(0.0), tf.constant(0.0)
        for step in tf.range(steps):
            batch = order[step * batch_size : (step + 1) * batch_size]
            labels = tf.gather(fit_y, batch)
            loss, correct = unscaled(
                strategy.run(train_step, args=(tf.gather(fit_x, batch), labels))
            )
            # Keras's epoch loss: the batches' losses weighted by their sizes.
            loss_sum += loss * tf.cast(tf.shape(labels)[0], tf.float32)
            correct_sum += correct
        validation_loss, validation_correct = unscaled(
            strategy.run(validation_step, args=(validation_x, validation_y))
        )
        return {
            "loss": loss_sum / count,
            "accuracy": correct_sum / count,
            "val_loss": validation_loss,
            "val_accuracy": validation_correct / len(validation[1]),
        }

    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, model=head, epochs=epochs, verbose=0, steps=steps
    )
    shuffler = np.random.default_rng(seed)
    head.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        order = tf.constant(shuffler.permutation(count), tf.int32)
        logs = {name: float(value) for name, value in run_epoch(order).items()}
        callback_list.on_epoch_end(epoch, logs)
        if head.stop_training:
            break
    callback_list.on_train_end()
    return head.history


def _correct(labels: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
    """How many of the batch's predictions name their label (sparse categorical accuracy)."""
    predicted = tf.argmax(predictions, axis=-1, output_type=tf.int64)
    return tf.reduce_sum(tf.cast(predicted == tf.cast(labels, tf.int64), tf.float32))
