"""scikit-learn's digits (1797 images of 8x8 pixels, grey levels 0..16, shipped with scikit-learn),
read once per process. Each chapter that trains on them splits them its own way on top of this.
"""
import functools


@functools.lru_cache(maxsize=1)
def images_and_labels():
    """(x of shape (1797, 64), y of shape (1797,)), read-only: every caller shares these two arrays."""
    from sklearn.datasets import load_digits  # scikit-learn loads only when a check needs the data

    x, y = load_digits(return_X_y=True)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def stratified_split(x, y, **sizes):
    """train_test_split(x, y, **sizes) with the fixed random_state=0 and every digit in proportion:
    (x_train, x_test, y_train, y_test), new arrays each call."""
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, **sizes, random_state=0, stratify=y)
