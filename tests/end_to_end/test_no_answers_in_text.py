"""Derive, don't transcribe: the assignments' text and the lectures hand out no answer.

1. FORBIDDEN lists, per assignment and per exercise (named by the function the student writes), the
   expressions of the gradients asked for. None may appear in the markdown of the release (exercise
   text, hints, written questions), in whatever typography: LaTeX, unicode or code.
2. No lecture contains an assignment's solution: it defines no function or class of an assignment's
   graded name, and no line of the master's solutions appears in its code.

How a pattern is matched. The markdown is first put in a normal form (`normalise`):

* LaTeX spacing, sizing and font commands are dropped (`\\,`, `\\left`, `\\mathrm`, `\\mathbf`, ...),
  so are `$`, backticks and braces: `\\bar{\\mathrm{den}}` reads `\\barden`, `\\mathbf{1}` reads `1`;
* a transpose reads `^T` (`^\\top`, `^{\\top}`, `ᵀ`), a product sign `*` (`\\cdot`, `\\odot`, `·`, `×`, `⊙`),
  a bar `\\bar` (`\\overline`, a combining macron as in `x̄`), `Σ` reads `\\sum`, `σ` `\\sigma`, `∂` `\\partial`,
  `δ` `\\delta`, `−` `-`, and subscript digits and `ᵢ`/`ⱼ` read `_0` ... `_i`, `_j`;
* whitespace is removed, except one space between two letters or digits (so that words stay apart).

In a pattern, `·` stands for an implicit or explicit product: nothing, a space or `*` (`2·h` matches
`2h`, `2 h`, `2*h`, `2 \\cdot h`). Patterns are case-sensitive regular expressions (`re.search`).

To add an assignment, add its key to FORBIDDEN; both tests pick it up.
"""
import ast
import re

import nbformat
import pytest

from autograde.grading.course.layout import ROOT, notebook_path

# The gradient of a variable, as the text may write it: \bar x, dx, dL/dx (after normalise()).
G = r"(?<![A-Za-z\\])(\\bar|d|\\partial L/\\partial|\\frac\\partial L\\partial)"
T = r"(\^T|\.T)"  # a transpose

FORBIDDEN = {
    "01_chain_rule": {
        "Multiply.backward": [
            r"(\\barf|grad|upstream)·(self\.)?[xy](?![A-Za-z])",    # \bar f y, grad * y
            r"(?<![A-Za-z])[xy]·(\\barf|grad)",
            r"\\partial ?(f|\(?x·y\)?)/\\partial ?[xy]=[xy](?![A-Za-z])",
            r"\\frac\\partial ?(f|\(?x·y\)?)\\partial ?[xy]=[xy](?![A-Za-z])",
        ],
        "Square.backward": [
            r"2·h·(\\barg|grad|upstream)", r"(\\barg|grad|upstream)·2·h",
            r"=2·h(?![A-Za-z_^])",                                  # d(h^2)/dh = 2h
        ],
        "Multiply then Square (the chain)": [
            r"(?<![\w.])2·f·[xy](?![A-Za-z])", r"(?<![\w.])2·x·y\^2", r"(?<![\w.])2·x\^2·y", r"\\nabla ?g?=\[",
        ],
        "staged_backward": [
            G + r"(num|invden|den|sigx|sigy|xpy|xpysqr)=",           # any step written out
            G + r"[xy]\+?=(?!0|\.\.\.)",                           # dx = dnum, dx += ... (but dx = 0.0, dx += ...: the method)
            r"-1/(den|\(den\))\^2", r"-" + G + r"invden/den\^2",
            r"\(1-sig[xy]\)", r"sig[xy]·\(1-", r"(?<![\w.])2·xpy",
        ],
        "conv_net_backward": [
            G + r"(a|z_?2|w_?2|h|z_?1)=",
            r"a-y\)?·a·\(1-a\)", r"(?<![\w\\])a·\(1-a\)", r"\(1-a\)·a(?![A-Za-z])",
            r"1-h\^2", r"1-h\*\*2", r"1-\\tanh\^2\(z",
            G + r"w_?1\[", G + r"x\[", r"\+=" + G + r"z_?1", r"\\sum_i,j·" + G + r"z_?1",
            r"dw1\+=", r"dx\[i",
        ],
        "quadratic_form_grad": [
            r"W\+W" + T, r"W" + T + r"\+W(?![\w^.])", r"W·x\+W" + T + r"·x", r"W" + T + r"·x\+W·x",
            r"W@x\+W\.T@x", r"W\.T@x\+W@x", r"W·x\+x" + T + r"·W", r"x" + T + r"·W\+",
        ],
        "matvec_vjp": [
            r"W" + T + r"·v", r"W" + T + r"@v", r"W\.T\.dot", r"np\.dot\(W\.T", r"(?<![\w.])v" + T + r"·W(?![\w^.])",
            r"(?<![\w.])v@W(?![\w.])", r"(?<![\w\\])J=W(?![\w^.])", r"=W" + T,
            r"\\partial ?y/\\partial ?x=W", r"\\frac\\partial ?y\\partial ?x=W",
        ],
        "broadcast_add_vjp": [
            r"\\sum_i·[vV]_i(?!·(\\frac|\\partial|J))", r"\\sum_i=1\^m·[vV]", G + r"b=\\sum", r"sum\(axis=0", r"\.sum\(0\)",
            r"np\.sum\([vV],axis=0", r"axis=?0", r"(sum|add)\w* (it |them )?(over|along|down) (the |its |all )?(m )?rows",
        ],
    },
    "02_softmax_nll": {
        "cross_entropy_grad": [
            r"softmax\(z[^)]*\)-(\\mathbb|\\mathrm)?(onehot|one_hot|e_y|y|np\.eye|\[|\\delta|1)",
            r"(?<![\w\\])(p|k)(_n,i|_n,:|_i|_n)?-(onehot|one_hot|e_y|y(?![A-Za-z])|\[i=y|\\delta|1_)",
            r"(?<![\w\\])p_(n,)?y(_n)?-1", r"p_0-1", r"(?<![\w.])1-p_(n,)?(y|0)",
            G + r"z(_n,i|_n,:|_i|_n)?=", r"=\\frac1N·\(p", r"=\\frac p",
            r"e\^z_?n?,?i/\\sum_j·e\^z_?n?,?j=p",
        ],
        "softmax_vjp": [
            r"p_j·\(g_j-", r"(?<![\w\\])p·\(g-", r"g-\\langle ?[gp],[gp]\\rangle", r"g_j-\\sum_i·g_i·p_i",
            r"\\sum_i·g_i·p_i", r"\\sum_i·p_i·g_i", r"np\.sum\(g\*p", r"np\.sum\(p\*g", r"\((g\*p|p\*g)\)\.sum",
        ],
        "log_softmax_vjp": [
            r"g_j-p_j·\\sum", r"(?<![\w\\])g-p·(\\sum|sum|np\.sum|g\.sum|\()", r"I-1·p\^T", r"\\delta_i ?j-p_j",
            r"\\partial ?\\log ?(p_i|softmax|\\mathrm)\S{0,30}=\\delta",
        ],
        "softmax_jacobian": [
            r"diag\(p\)-", r"-p·p\^T", r"np\.outer\(p,p\)", r"p_i·\(\\delta_i ?j-p_j\)", r"p_i·\\delta_i ?j-p_i·p_j",
            r"-p_i·p_j", r"p_i·\(1-p_i\)", r"\\delta_i ?j·p_i-p_i·p_j",
        ],
        "staged_backward": [
            G + r"(picked|l|k|j|h|z)=(?!0)", r"-" + G + r"l/k", G + r"k/j", r"h/j\^2", G + r"h·h(?![\w])",
            r"1/N\)?·(onehot|\[)",
        ],
    },
    "03_mlp_backprop": {
        "Linear.backward": [
            r"(dy|\\bary|ȳ|grad)" + T + r"(@|·)(self\.)?x(?![A-Za-z])", r"(dy|\\bary|ȳ)(@|·)(self\.)?W(?![\w^.])",
            r"dy\.sum\((axis=)?0", r"np\.sum\(dy,(axis=)?0", G + r"W(_ji|_j,i)?=\\sum", G + r"x(_ni|_n,i)?=\\sum",
            G + r"b(_j)?=\\sum", G + r"W=(?!\.\.\.)", G + r"b=(?!\.\.\.)",
            r"\\sum_n·\\bary_nj·x_ni", r"\\sum_j·\\bary_nj·W_ji", r"\\sum_n·x_ni·\\bary_nj", r"\\sum_j·W_ji·\\bary_nj",
            r"only (one )?product that fits",
        ],
        "ReLU, Sigmoid, Tanh backward": [
            r"(?<![\w\\])s·\(1-s\)", r"\(1-s\)·s(?![A-Za-z])", r"\\sigma(\(x\))?·\(1-\\sigma", r"out·\(1-(self\.)?out\)",
            r"1-t\^2", r"1-t\*\*2", r"1-\\tanh\^2", r"1-\\tanh\(x\)\^2", r"1-(self\.)?out\*\*2", r"1-(self\.)?out\^2",
            r"(dy|\\bary)·\(?(self\.)?x>0", r"\[x>0\]", r"1 where x>0",
        ],
        "SoftmaxCrossEntropy.backward": [
            r"(?<![\w\\])(p|probs|softmax\(z\))(_nk|_n,k|_nj|_n,j|_n)?-(onehot|one_hot|1|e_y|\[k=y|\[j=y|\\delta|y(?![A-Za-z]))",
            r"dlogits\[np\.arange", r"\\frac1N·\(p", G + r"z(_nk|_n,k|_nj|_n,j|_n)?=", r"\\partial L/\\partial z=",
            r"(?<![\w\\])p_n,?y_?n?-1",
        ],
        "manual_backward": [
            G + r"(logprobs|probs|counts_sum_inv|counts_sum|counts|logits|h2_preact|h2|h1_preact|h1)=(?!\\partial)",
            r"-1/N at", r"-\\frac1N at", r"2·\\lambda·W", r"2·lam·W", r"2·\*?c\[.lam.\]", r"whose gradient is 2",
            r"dW=dy\.T",
        ],
    },
    "04_label_smoothing": {
        "smoothed_nll_grad": [
            r"(?<![\w\\])(p|k)(_n|_n,i|_i)?-(q|n_?4)(_n|_n,i|_i)?(?![A-Za-z])",
            r"\\log·p_?(n,)?y_?n?-\\frac1K-1", r"\\log·p_?(n,)?y_?n?-1/\(K-1\)", r"\\frac1K-1·\\sum_j ?\\ne ?y",
            r"geometric mean", r"\\partial ?q_?y/\\partial ?\\alpha=-1", r"\\partial ?q_?(j|i)/\\partial ?\\alpha=\\frac1K-1",
            G + r"z_?n?=\\frac", G + r"\\alpha=\\frac1N·\\sum",
        ],
        "network_backward": [
            G + r"W_?[01]=", G + r"b_?[01]=", G + r"(f|d|c|a)=(?!\\partial)",
            r"dg" + T + r"(@|·)(cache\[.)?d(?![\w])", r"df" + T + r"(@|·)",
            r"(dg|df|\\barf|\\barg)(@|·)(cache\[.)?W_?1(?![\w^.])", r"\(c>0\)", r"\[c>0\]",
        ],
        "sgd_update": [
            r"params\[name\]-lr", r"-lr·\*?grads?\[",
        ],
        "alpha_hypergradient": [
            r"e_y-\\frac ?1-e_y ?K-1", r"e_y-\(1-e_y\)/\(K-1\)", r"\\frac\\partial\^2", r"\\partial\^2·?L",
            r"-\\eta·\\nabla_\\theta·?L_val", r"\\alpha·\(1-\\alpha\)", r"\(1-\\alpha\)·\\alpha", r"\\sigma'\(s\)=",
            r"\\sigma\(s\)·\(1-\\sigma\(s\)\)", r"\\frac ?1 ?N on (each|the) true class", r"\+1/N on", r"J" + T + r"·v",
            r"dq_dalpha",
        ],
        "unrolled_hypergradient": [
            r"\\dot ?p(_t)?=", r"\\dot ?g(_t)?=", r"\\dot ?e(_t)?=", r"\\dot ?W_t\+1=", r"\\dot ?b_t\+1=",
            r"\\dot ?\\theta_t\+1=", r"p·\(\\dot ?g", r"p_k·\(\\dot ?g_k-", r"\\dot ?g-\\sum", r"\\langle ?p,\\dot ?g",
            r"x·?\\dot ?W" + T, r"\\dot ?e" + T + r"·?x", r"ṗ=", r"ġ=", r"p·\(ġ", r"\\langle ?p,ġ",
        ],
    },
    "05_autograd_engine": {
        "Value": [
            r"n·x\^\(?n-1", r"n·x\*\*\(n-1\)", r"n·(self\.)?data\*\*\(n-1\)", r"1-t\^2", r"1-t\*\*2", r"1-\\tanh\^2",
            r"1-(out|t)(\.data)?\*\*2", r"(?<![\w\\])s·\(1-s\)", r"out\.data·\(1-out\.data\)",
        ],
        "Tensor": [
            r"\.grad@", r"A\^T·(\\bar ?O|G)", r"(\\bar ?O|G)·B\^T", r"\\delta_ij-p_j",
        ],
    },
    "06_normalization": {
        "batchnorm_backward, layernorm_backward, rmsnorm_backward": [
            r"(?<![A-Za-z])d(z|y|xhat|x_hat|xh|\\hatx|out)\w*\.(mean|sum)\(", r"np\.(mean|sum)\(d\w+(,|\))",
            r"\(d\w*·(z|\\hatx|xhat|x_hat|y|\(?self\.)?\w*\)\.(sum|mean)", r"\((z|\\hatx|xhat|x_hat)·d\w*\)\.(sum|mean)",
            r"\\sum_?\w*·?\\bar(z|y)\w*·(z|\\hatx|x)", r"\\sum_?\w*·?(z|\\hatx)\w*·\\bar(z|y)",
            r"\\bar(z|y)\w*-\\frac1N", r"\\bar(z|y)\w*-(\\mu|mean|\\langle)", r"(?<![A-Za-z])d(z|xhat|y)-(z|xhat)·",
            r"\\bar(z|y)\w*-(z|\\hatx)\w*·", r"N·(d|\\bar)(z|xhat|y)\w*-", r"(mean|\\langle)\(?\\bar(z|y)",
            G + r"x(_\w+)?=(?!\.\.\.)", G + r"\\gamma(_j)?=", G + r"\\beta(_j)?=", r"(?<![A-Za-z])d(gamma|beta)=",
            G + r"(\\mu|mu|\\sigma\^2|var|inv_std|std)(_j)?=", r"inv_std·\(",
        ],
    },
    "07_attention": {
        "attention_backward": [
            G + r"(v|P|p|s|S|q|k)(_ij|_i,j|_jc|_j,c|_ic|_i,c)?=(?!\\partial|\.\.\.)",
            r"(\\frac\\partial L\\partial|\\partial L/\\partial) ?(v|P|s|S|q|k|x|W_?[qkvo])(_\w+)?=(?!\\partial|\.\.\.)",
            r"(?<![\w\\])P" + T + r"(·|@)(\\bar ?(O|o|out)|dout|dO)", r"swapaxes\(p,-1,-2\)@",
            r"(dout|\\bar ?(O|o|out)|dO)(·|@)(v|V)" + T, r"(dout|\\barout)@np\.swapaxes\(v",
            r"P(_ij)?·\((dP|\\bar ?P)(_ij)?-", r"(dP|\\bar ?P)(_ij)?-(D|row|\\sum|rowsum|\(?dout|\\bar ?O)",
            r"rowsum\((dout|\\bar|out)", r"\\sum_c·(\\bar ?(O|o|out)|dout)_i ?c·out_i ?c", r"\\sum_c·out_i ?c·(\\bar|dout)",
            r"\((dout|\\bar ?(O|out))\*out\)\.sum", r"\(out\*(dout|\\bar ?(O|out))\)\.sum",
            r"(dS|ds|\\bar ?s|\\bar ?S)(_ij)?(·|@)k(?![A-Za-z])", r"(dS|ds|\\bar ?s|\\bar ?S)" + T + r"(·|@)q(?![A-Za-z])",
            r"swapaxes\(ds", r"\\sum_j·(\\bar ?s|dS|ds)_ij·k_jc", r"\\sum_i·(\\bar ?s|dS|ds)_ij·q_ic",
        ],
        "mha_backward": [
            G + r"(x|W_?q|W_?k|W_?v|W_?o|concat)=(?!\\partial|\.\.\.)",
            r"(dq|dk|dv|\\bar ?[qkv])(·|@)W_?[qkv]" + T, r"x" + T + r"(·|@)(dq|dk|dv|\\bar ?[qkv])",
            r"concat" + T + r"(·|@)(dy|\\bar ?y)", r"(dy|\\bar ?y)(·|@)W_?o" + T, r"btd,bte->de",
        ],
    },
}

# Variants of the answers the patterns above must catch (a check of the patterns themselves).
CAUGHT = {
    "01_chain_rule": [
        r"| `Multiply` | $f = x\,y$ | $[\bar f\,y,\ \bar f\,x]$ |", r"| `Square` | $g = h^2$ | $[2h\,\bar g]$ |",
        r"$\nabla = [2 f y,\ 2 f x]$", "the VJP is $v\\,(W + W^\\top)\\,x$", "(Wᵀ + W) x", "`(W + W.T) @ x`",
        r"so the VJP is $W^\top v$", "Wᵀv", "`W.T @ v`", r"$\bar b = \sum_i v_{i,:}$", "`v.sum(axis=0)`",
        r"$\bar a = a - y$, $\bar z_2 = \bar a\, a (1-a)$", r"$\bar z_1 = \bar h\,(1 - h^2)$",
        r"$\bar w_1[a,b] = \sum_{i,j} \bar z_1[i,j]\, x[i+a, j+b]$", r"$\bar x[i+a, j+b] \mathrel{+}= \bar z_1[i,j]$",
        "x̄ += x̄pȳ", r"$\bar{\mathrm{den}} = -\bar{\mathrm{invden}}/\mathrm{den}^2$",
    ],
    "02_softmax_nll": [
        r"$\partial L/\partial z = (\mathrm{softmax}(z) - \mathrm{onehot}(y)) / N$",
        r"\frac{\partial L}{\partial z_{n,i}} = \frac{1}{N}\big(p_{n,i} - [\,i = y_n\,]\big)",
        r"in proportion to $1 - p_y$", r"The slope $\partial L/\partial t = p_0 - 1$",
        r"$J = \mathrm{diag}(p) - p\,p^\top$", r"\frac{\partial p_i}{\partial z_j} = p_i(\delta_{ij} - p_j)",
        r"\big(J^\top g\big)_j = p_j\Big(g_j - \sum_i g_i p_i\Big)", r"$J = I - \mathbf{1}\,p^\top$",
        r"(J^\top g)_j = g_j - p_j \sum_i g_i", "`g - p * g.sum(axis=-1, keepdims=True)`", "diag(p) − p pᵀ",
        r"$\bar k = -\bar l / k$", "`dh = dk / j + dj`",
    ],
    "03_mlp_backprop": [
        "`dy.T @ x`", "`dy @ W`", "`dy.sum(axis=0)`", r"\bar W_{ji} = \sum_n \bar y_{nj}\, x_{ni}",
        r"\bar W = \bar y^\top x", r"\bar x = \bar y\, W", r"$s\,(1-s)$", r"$1 - t^2$",
        r"\frac{\partial L}{\partial z_{nk}} = \frac1N\left(p_{nk} - [k = y_n]\right)",
        "dlogprobs is $-1/N$ at `[n, y[n]]`", r"(whose gradient is $2\lambda W$)",
        "`dW = dy.T @ x`, `dx = dy @ W`, `db = dy.sum(axis=0)`", "the only product that fits",
        "W̄ = ȳᵀ x", "x̄ = ȳ W", r"$\bar z = (\mathrm{softmax}(z) - \mathrm{onehot}(y))/N$",
        r"| `ReLU` | $\max(x, 0)$ | $1$ where $x > 0$, else $0$ |",
    ],
    "04_label_smoothing": [
        r"\frac{\partial L}{\partial z_{n}} = \frac{p_n - q_n}{N}.",
        r"\frac{\partial L}{\partial \alpha} = \frac1N \sum_n \Bigl( \log p_{n,y_n} - \frac{1}{K-1}\sum_{j \ne y_n} \log p_{n,j} \Bigr).",
        "The bracket is the log of $p_y$ over the geometric mean of the other probabilities",
        r"\frac{d L_{\text{val}}(\theta')}{d s} = -\eta\; \nabla_\theta L_{\text{val}}(\theta')^\top\; \frac{\partial^2 L_{\text{train}}}{\partial \theta\, \partial \alpha}\;\sigma'(s)",
        r"\qquad \sigma'(s) = \alpha(1 - \alpha).", r"= \frac1N\Bigl(e_y - \frac{1 - e_y}{K-1}\Bigr)",
        r"(per example: $+\tfrac1N$ on the true class, $-\tfrac{1}{N(K-1)}$ elsewhere)", r"$\bar g = k - n_4 = p - q$",
        r"| g, f | $g = f + b_1,\ f = W_1 d$ | $\bar f = \bar b_1 = \bar g,\ \ \bar W_1 = \bar f\, d^\top,\ \ \bar d = W_1^\top \bar f$ |",
        r"| d | $d = \max(c, 0)$ | $\bar c = \bar d \odot [c > 0]$ |", "`dW1 = df.T @ cache[\"d\"]`", "`dd = df @ cache[\"W1\"]`",
        "`{name: params[name] - lr * grads[name] for name in params}`",
        r"$\dot p = p \odot (\dot g - \langle p, \dot g\rangle)$", r"$\dot W_{t+1} = \dot W_t - \eta\,\dot e_t^\top x$",
        r"$\dot g_t = x \dot W_t^\top + \dot b_t$", "ṗ = p ⊙ (ġ − ⟨p, ġ⟩)",
    ],
    "05_autograd_engine": [
        r"the local derivative is $n x^{n-1}$", "`n * self.data**(n-1)`", r"$1 - t^2$", "`1 - out.data**2`",
        r"$s\,(1 - s)$", "`out.data * (1 - out.data)`", "`self.grad += out.grad @ other.data.T`",
        r"$\bar B = A^\top \bar O$", r"$\bar A = \bar O\, B^\top$", r"$\partial y_i/\partial z_j = \delta_{ij} - p_j$",
    ],
}

REPLACEMENTS = {
    "ᵀ": "^T", "⊤": "^T", "−": "-", "–": "-", "·": "*", "⋅": "*", "×": "*", "⊙": "*", "∘": "*",
    "Σ": r"\sum ", "∑": r"\sum ", "σ": r"\sigma ", "∂": r"\partial ", "δ": r"\delta ", "∇": r"\nabla ",
    "⟨": r"\langle ", "⟩": r"\rangle ", "ᵢ": "_i", "ⱼ": "_j", "₀": "_0", "₁": "_1", "₂": "_2", "₃": "_3",
    "\\_": "_", "\\*": "*", "\\{": "(", "\\}": ")",
}
DROPPED = ("left", "right", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "big", "Big", "bigg", "Bigg",
           "quad", "qquad", "mathrm", "mathbf", "mathbb", "mathit", "mathsf", "mathtt", "boldsymbol", "bm",
           "operatorname", "text", "textrm", "texttt", "textbf", "textit", "displaystyle", "mathrel", "mathop")


def normalise(text):
    """The normal form described in the module docstring."""
    text = re.sub(r"(\w)\u0304", r"\\bar{\1}", text)  # x̄: a letter and a combining macron
    for old, new in REPLACEMENTS.items():
        text = text.replace(old, new)
    text = re.sub(r"\\(top|intercal)(?![A-Za-z])", "T", text)
    text = re.sub(r"\\(" + "|".join(DROPPED) + r")(?![A-Za-z])", " ", text)
    text = re.sub(r"\\[,;:! ]", " ", text)
    text = re.sub(r"\\(cdot|odot|times|ast|circ)(?![A-Za-z])", "*", text)
    text = re.sub(r"\\overline(?![A-Za-z])", r"\\bar", text)
    text = re.sub(r"\\[dt]frac(?![A-Za-z])", r"\\frac", text)
    text = re.sub(r"[{}$`]", " ", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\\bar ", r"\\bar", text)
    return re.sub(r"(?<![A-Za-z0-9]) | (?![A-Za-z0-9])", "", text)


def compile_pattern(pattern):
    return re.compile(pattern.replace("·", r"[ *]?"))


def release_markdown(assignment):
    nb = nbformat.read(notebook_path(ROOT, "release", assignment), as_version=4)
    return normalise("\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown"))


CASES = [(assignment, exercise, pattern) for assignment, exercises in FORBIDDEN.items()
         for exercise, patterns in exercises.items() for pattern in patterns]


@pytest.mark.parametrize("assignment, exercise, pattern", CASES,
                         ids=[f"{a}-{e}-{i}" for i, (a, e, _) in enumerate(CASES)])
def test_release_text_states_no_answer(assignment, exercise, pattern):
    text = release_markdown(assignment)
    found = compile_pattern(pattern).search(text)
    assert found is None, (
        f"release/{assignment}: the text gives away {exercise}: {found.group(0)!r} "
        f"in ...{text[max(0, found.start() - 80):found.end() + 80]}..."
    )


@pytest.mark.parametrize("assignment, example", [(a, e) for a, examples in CAUGHT.items() for e in examples])
def test_patterns_catch_answers_in_any_typography(assignment, example):
    text = normalise(example)
    patterns = [p for exercise in FORBIDDEN[assignment].values() for p in exercise]
    assert any(compile_pattern(p).search(text) for p in patterns), f"no pattern catches {example!r} ({text!r})"


# --- no lecture holds an assignment's solution ------------------------------------------------------

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
SHORT = 16  # solution lines shorter than this (without spaces) are too generic to compare: `return x * y`


def solution_cells(assignment):
    nb = nbformat.read(notebook_path(ROOT, "source", assignment), as_version=4)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def graded_names(assignment):
    """Top-level functions and classes of the solution cells that hold a solution region."""
    names = set()
    for source in solution_cells(assignment):
        marked = [i + 1 for i, line in enumerate(source.splitlines()) if line.strip() in MARKERS]
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and any(
                    node.lineno <= line <= node.end_lineno for line in marked):
                names.add(node.name)
    return names


def compact(line):
    """A line of code without its comment and its whitespace."""
    return re.sub(r"\s+", "", line.split("#", 1)[0])


def solution_lines(assignment):
    lines = set()
    for source in solution_cells(assignment):
        inside = False
        for line in source.splitlines():
            if line.strip() in MARKERS:
                inside = line.strip() == MARKERS[0]
            elif inside and len(compact(line)) >= SHORT:
                lines.add(compact(line))
    return lines


def lecture_code(assignment):
    nb = nbformat.read(ROOT / "notebooks" / f"{assignment}.ipynb", as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("assignment", sorted(FORBIDDEN))
def test_lecture_defines_no_graded_function(assignment):
    graded = graded_names(assignment)
    assert graded, f"no graded function found in source/{assignment}"
    defined = {node.name for source in lecture_code(assignment) for node in ast.walk(ast.parse(source))
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert not defined & graded, (
        f"notebooks/{assignment}.ipynb defines {sorted(defined & graded)}, graded in the assignment: "
        "work the method on another example"
    )


@pytest.mark.parametrize("assignment", sorted(FORBIDDEN))
def test_lecture_contains_no_solution_line(assignment):
    solutions = solution_lines(assignment)
    assert solutions, f"no solution lines found in source/{assignment}"
    lecture = {compact(line) for source in lecture_code(assignment) for line in source.splitlines()}
    assert not solutions & lecture, (
        f"notebooks/{assignment}.ipynb contains lines of the assignment's solutions: {sorted(solutions & lecture)}"
    )
