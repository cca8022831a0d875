"""What the course-replay tests share: the notebooks' random stream and initialisation."""

import numpy as np

from visionblocks.gradcheck import eval_numerical_gradient_array


def course_rs():
    """The stream of the notebooks' ``np.random.seed(231)``, without numpy's global state."""
    return np.random.RandomState(231)


def course_init(model, rs, weight_scale):
    """Redraws the weights as the course's models draw them right after the notebook's inputs.

    The course's ``__init__`` draws ``weight_scale * np.random.randn(*shape)`` for W1, W2, ...
    in order from the global stream (biases zero, gammas one, betas zero); here from ``rs``.
    Numerical gradient checks of nets with ReLU and max-pool kinks depend on the exact weights,
    so this reproduces the notebook's situation, and the error it says to expect.
    """
    names = sorted((k for k in model.params if k.startswith("W")), key=lambda k: int(k[1:]))
    for name in names:
        shape = model.params[name].shape
        model.params[name] = weight_scale * rs.randn(*shape)
    return model


def grads_num(f, args, dout):
    """Numerical gradients of sum(f(*args) * dout) with respect to each of args."""
    out = []
    for i in range(len(args)):

        def fi(a, i=i):
            return f(*args[:i], a, *args[i + 1 :])

        out.append(eval_numerical_gradient_array(fi, args[i], dout))
    return out
