"""model.tflite: the served function for LiteRT (TensorFlow Lite), in its built-in operators only.

Keras' recurrent layers loop over time with a tf.while_loop that gathers its outputs in a
TensorArray, and the TFLite converter cannot lower a TensorArray whose batch is dynamic
(`tf.TensorListReserve ... element_shape to be static`); with SELECT_TF_OPS the result needs Flex
ops that LiteRT's interpreter lacks. While the function is traced here, Keras' loop is replaced by
`_rnn`: the same step function (the cell's own call, its weights and masking as Keras applies them),
looped with ops LiteRT has built in (a WHILE that writes each step's output with
DYNAMIC_UPDATE_SLICE). The whole function then converts with TFLITE_BUILTINS only, keeps batch and
length dynamic (`resize_tensor_input`), and computes what Keras computes for any mask.
"""

import contextlib

import tensorflow as tf
from keras.src import backend as keras_backend
from tensorflow.compiler.tf2xla.python import xla
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from export.fused import Unsupported
from export.serving import serving_function

SIGNATURE_NAME = "serving_default"  # model.tflite's signature, named as the SavedModel's
STEP_SIGNATURE_NAME = "step"  # and its streaming step's, where the model streams (export.streaming)


def _rnn(step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None, unroll=False,
         input_length=None, time_major=False, zero_output_for_mask=False, return_all_outputs=True):
    """keras.src.backend.rnn's contract, for a tensor input [batch, time, features] (what the zoo's
    layers pass): returns (last output, outputs [batch, time or 1, units], final states)."""
    if unroll or time_major or tf.nest.is_nested(inputs):
        raise Unsupported("an unrolled, time-major or nested-input recurrent layer")
    constants = tuple(constants or ())
    steps = tf.transpose(inputs, [1, 0, 2])  # [time, batch, features]
    if mask is not None:
        mask = tf.expand_dims(tf.transpose(tf.cast(mask, tf.bool), [1, 0]), -1)  # [time, batch, 1]
    if go_backwards:
        steps = tf.reverse(steps, [0])
        mask = None if mask is None else tf.reverse(mask, [0])
    count = tf.shape(steps)[0]
    zero = tf.zeros_like(step_function(steps[0], tuple(initial_states) + constants)[0])

    def body(t, previous, outputs, *states):
        output, new_states = step_function(tf.gather(steps, t), tuple(states) + constants)
        new_states = tf.nest.flatten(new_states)
        if mask is not None:  # as Keras: a padded step keeps the states, and the output or zeros
            real = tf.gather(mask, t)
            output = tf.where(real, output, zero if zero_output_for_mask else previous)
            new_states = [tf.where(real, new, old) for new, old in zip(new_states, states)]
        if return_all_outputs:  # written in place: DYNAMIC_UPDATE_SLICE
            outputs = xla.dynamic_update_slice(outputs, tf.expand_dims(output, 0), tf.stack([t, 0, 0]))
        return (t + 1, output, outputs, *new_states)

    outputs = tf.zeros(tf.concat([[count if return_all_outputs else 1], tf.shape(zero)], 0))
    _, last, outputs, *states = tf.while_loop(lambda t, *_: t < count, body,
                                              (tf.constant(0), zero, outputs, *initial_states))
    if not return_all_outputs:
        outputs = tf.expand_dims(last, 0)
    return last, tf.transpose(outputs, [1, 0, 2]), states


def _no_cudnn(*args, **kwargs):
    raise NotImplementedError  # Keras then takes its generic loop, which is _rnn here


@contextlib.contextmanager
def _builtin_loops():
    """Keras' recurrent layers, while traced inside, loop with `_rnn` and never take cuDNN's path."""
    saved = {name: getattr(keras_backend, name) for name in ("rnn", "lstm", "gru")}
    keras_backend.rnn, keras_backend.lstm, keras_backend.gru = _rnn, _no_cudnn, _no_cudnn
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(keras_backend, name, value)


def tflite_model(model, contract, generates, signatures=None, quantize=False):
    """(flatbuffer bytes, the LiteRT operators it uses) for the model's serving function
    (export.serving, traced afresh here: a function traced before keeps Keras' own loop).

    The model has the signature SIGNATURE_NAME, with the function's input and output names, and one
    more for each of `signatures` ({name: a callable giving a new tf.function}, traced here too: the
    streaming step, beam search). quantize: LiteRT's dynamic-range quantisation (int8 weights, float
    activations; export.quantize).
    Raises Unsupported with the converter's reason when LiteRT's built-in operators cannot express it.
    """
    with _builtin_loops():
        function = serving_function(model, contract, generates)
        lite = _converted(function, quantize=quantize)
        for name, make in (signatures or {}).items():
            _add_signature(lite, _converted(make(), quantize=quantize), name)
    operators = sorted({flatbuffer_utils.opcode_to_name(lite, i) for i in range(len(lite.operatorCodes))})
    return flatbuffer_utils.convert_object_to_bytearray(lite), operators


def _converted(function, name=SIGNATURE_NAME, quantize=False):
    """The flatbuffer (as flatbuffer_utils' objects) of one tf.function, with one signature, `name`."""
    concrete = function.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # weights only: no representative data
    try:
        flatbuffer = converter.convert()
    except Exception as error:  # the converter raises its own ConverterError, or whatever MLIR raised
        reason = next((line for line in str(error).splitlines() if "error:" in line), str(error))
        raise Unsupported(f"the TFLite converter refused it: {reason.strip()[:300]}") from error
    # Converted from a bare concrete function, the weights are frozen into constants (given a module,
    # the converter keeps them as resource variables) and the model has no signature: it gets the
    # one LiteRT's signature runners read, with the SavedModel's names.
    lite = flatbuffer_utils.convert_bytearray_to_object(flatbuffer)
    main = lite.subgraphs[0]
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = name, 0
    signature.inputs = [_tensor_map(spec.name, index)
                        for spec, index in zip(function.input_signature, main.inputs)]
    # Outputs in the order tf.nest flattens the function's dict: sorted by name.
    signature.outputs = [_tensor_map(name, index)
                         for name, index in zip(sorted(concrete.structured_outputs), main.outputs)]
    lite.signatureDefs = [signature]
    return lite


# The options fields of control-flow operators (WHILE, IF, CALL_ONCE) that name a subgraph by index.
SUBGRAPH_FIELDS = ("condSubgraphIndex", "bodySubgraphIndex", "thenSubgraphIndex", "elseSubgraphIndex",
                   "initSubgraphIndex")


def _add_signature(lite, other, name):
    """Appends `other`'s subgraphs to `lite`, its first as the signature `name`: its constants, operator
    codes and subgraph indices (a loop's condition and body) are renumbered into lite's, a constant lite
    already holds byte for byte (the weights both functions froze) shared rather than stored twice."""
    held = {_buffer_key(buffer): index for index, buffer in enumerate(lite.buffers) if _buffer_key(buffer)}
    buffers = []
    for buffer in other.buffers:
        key = _buffer_key(buffer)
        if key not in held:
            held[key] = len(lite.buffers)
            lite.buffers.append(buffer)
        buffers.append(held[key] if key else 0)  # buffer 0: no data
    codes = []
    for code in other.operatorCodes:
        same = [i for i, mine in enumerate(lite.operatorCodes) if _code_key(mine) == _code_key(code)]
        codes.append(same[0] if same else len(lite.operatorCodes))
        if not same:
            lite.operatorCodes.append(code)
    offset = len(lite.subgraphs)
    for subgraph in other.subgraphs:
        for tensor in subgraph.tensors:
            tensor.buffer = buffers[tensor.buffer]
        for operator in subgraph.operators:
            operator.opcodeIndex = codes[operator.opcodeIndex]
            for field in SUBGRAPH_FIELDS:
                if hasattr(operator.builtinOptions, field):
                    setattr(operator.builtinOptions, field, getattr(operator.builtinOptions, field) + offset)
        lite.subgraphs.append(subgraph)
    (signature,) = other.signatureDefs
    signature.signatureKey, signature.subgraphIndex = name, offset + signature.subgraphIndex
    lite.signatureDefs.append(signature)


def _buffer_key(buffer):
    """A constant's bytes, or None for a buffer without data."""
    data = getattr(buffer, "data", None)
    return None if data is None or not len(data) else bytes(bytearray(data))


def _code_key(code):
    return code.builtinCode, code.deprecatedBuiltinCode, code.customCode, code.version


def _tensor_map(name, index):
    mapping = schema.TensorMapT()
    mapping.name, mapping.tensorIndex = name, index
    return mapping


def runner(model_path, threads=None, signature=SIGNATURE_NAME):
    """LiteRT's (ai-edge-litert) runner of one of the model's signatures (serving_default's by default):
    call it with the inputs by name, any batch size and length; it returns {output name: array}."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
    return interpreter.get_signature_runner(signature)
