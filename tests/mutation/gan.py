"""Correct variants and plausible mistakes for gan (see tests/mutation/__init__.py).

The notebook's namespace has torch, nn, np, math, NOISE_DIM and dlcourse.gan's Flatten,
Unflatten and bce_loss; a variant imports anything else it uses, as a student would.
"""

CORRECT = {
    "sample_noise": {
        "seed first, rand shifted then scaled": '''
        def sample_noise(batch_size, dim, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return (torch.rand(batch_size, dim) - 0.5) * 2
        ''',
        "uniform_ on an empty float32 tensor": '''
        def sample_noise(batch_size, dim, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return torch.empty((batch_size, dim), dtype=torch.float32).uniform_(-1, 1)
        ''',
        "torch.distributions.Uniform": '''
        def sample_noise(batch_size, dim, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return torch.distributions.Uniform(-1.0, 1.0).sample((batch_size, dim))
        ''',
        "method chain mul/sub": '''
        def sample_noise(batch_size, dim, seed=None):
            if seed is not None:
                torch.manual_seed(int(seed))
            z = torch.rand(size=(batch_size, dim))
            return z.mul(2).sub(1)
        ''',
    },
    "discriminator": {
        "Module subclass with F.leaky_relu": '''
        import torch.nn.functional as F

        class _MLPDiscriminator(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(784, 256)
                self.fc2 = nn.Linear(256, 256)
                self.fc3 = nn.Linear(256, 1)

            def forward(self, x):
                x = x.view(x.size(0), -1)
                x = F.leaky_relu(self.fc1(x), negative_slope=0.01)
                x = F.leaky_relu(self.fc2(x), negative_slope=0.01)
                return self.fc3(x)

        def discriminator(seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return _MLPDiscriminator()
        ''',
        "nn.Flatten, default LeakyReLU slope, OrderedDict": '''
        from collections import OrderedDict

        def discriminator(seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(OrderedDict([
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(28 * 28, 256)), ("act1", nn.LeakyReLU()),
                ("fc2", nn.Linear(256, 256)), ("act2", nn.LeakyReLU(inplace=True)),
                ("out", nn.Linear(256, 1)),
            ]))
        ''',
        "layers appended to a list": '''
        def discriminator(seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            layers = [Flatten()]
            sizes = [784, 256, 256]
            for n_in, n_out in zip(sizes[:-1], sizes[1:]):
                layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(0.01)]
            layers.append(nn.Linear(256, 1))
            return nn.Sequential(*layers)
        ''',
    },
    "generator": {
        "Module subclass with torch.tanh": '''
        import torch.nn.functional as F

        class _MLPGenerator(nn.Module):
            def __init__(self, noise_dim):
                super().__init__()
                self.fc1 = nn.Linear(noise_dim, 1024)
                self.fc2 = nn.Linear(1024, 1024)
                self.fc3 = nn.Linear(1024, 784)

            def forward(self, z):
                h = F.relu(self.fc1(z))
                h = F.relu(self.fc2(h))
                return torch.tanh(self.fc3(h))

        def generator(noise_dim=NOISE_DIM, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return _MLPGenerator(noise_dim)
        ''',
        "Sequential, inplace ReLU, 28*28 written out": '''
        def generator(noise_dim=NOISE_DIM, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            hidden = 1024
            return nn.Sequential(
                nn.Linear(noise_dim, hidden), nn.ReLU(inplace=True),
                nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                nn.Linear(hidden, 28 * 28), nn.Tanh(),
            )
        ''',
        "add_module one layer at a time": '''
        def generator(noise_dim=NOISE_DIM, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            model = nn.Sequential()
            model.add_module("fc1", nn.Linear(noise_dim, 1024))
            model.add_module("relu1", nn.ReLU())
            model.add_module("fc2", nn.Linear(1024, 1024))
            model.add_module("relu2", nn.ReLU())
            model.add_module("fc3", nn.Linear(1024, 784))
            model.add_module("tanh", nn.Tanh())
            return model
        ''',
    },
    "discriminator_loss": {
        "binary_cross_entropy_with_logits": '''
        import torch.nn.functional as F

        def discriminator_loss(logits_real, logits_fake):
            real = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
            fake = F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
            return real + fake
        ''',
        "softplus written out (-log s(x) = softplus(-x))": '''
        import torch.nn.functional as F

        def discriminator_loss(logits_real, logits_fake):
            return F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
        ''',
        "logsigmoid, 1 - s(x) = s(-x)": '''
        import torch.nn.functional as F

        def discriminator_loss(logits_real, logits_fake):
            return -(F.logsigmoid(logits_real).mean() + F.logsigmoid(-logits_fake).mean())
        ''',
        "stable formula by hand": '''
        def discriminator_loss(logits_real, logits_fake):
            def bce(s, t):
                return (s.clamp(min=0) - s * t + torch.log1p(torch.exp(-s.abs()))).mean()
            return bce(logits_real, 1.0) + bce(logits_fake, 0.0)
        ''',
        "nn.BCEWithLogitsLoss on one concatenated batch": '''
        def discriminator_loss(logits_real, logits_fake):
            logits = torch.cat([logits_real, logits_fake])
            labels = torch.cat([torch.ones_like(logits_real), torch.zeros_like(logits_fake)])
            return 2 * nn.BCEWithLogitsLoss()(logits, labels)  # both halves have N entries
        ''',
    },
    "generator_loss": {
        "binary_cross_entropy_with_logits": '''
        import torch.nn.functional as F

        def generator_loss(logits_fake):
            return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))
        ''',
        "-logsigmoid": '''
        import torch.nn.functional as F

        def generator_loss(logits_fake):
            return -F.logsigmoid(logits_fake).mean()
        ''',
        "softplus(-x) with explicit size": '''
        import torch.nn.functional as F

        def generator_loss(logits_fake):
            return F.softplus(-logits_fake).sum() / logits_fake.numel()
        ''',
        "nn.BCEWithLogitsLoss module, full_like target": '''
        def generator_loss(logits_fake):
            criterion = nn.BCEWithLogitsLoss()
            return criterion(logits_fake, torch.full_like(logits_fake, 1.0))
        ''',
    },
    "ls_discriminator_loss": {
        "mse_loss halves": '''
        import torch.nn.functional as F

        def ls_discriminator_loss(scores_real, scores_fake):
            return 0.5 * F.mse_loss(scores_real, torch.ones_like(scores_real)) \\
                + 0.5 * F.mse_loss(scores_fake, torch.zeros_like(scores_fake))
        ''',
        "torch.square, / 2": '''
        def ls_discriminator_loss(scores_real, scores_fake):
            return (torch.mean(torch.square(1 - scores_real)) + torch.mean(torch.square(scores_fake))) / 2
        ''',
        "sums divided by the batch sizes": '''
        def ls_discriminator_loss(scores_real, scores_fake):
            n_real, n_fake = scores_real.shape[0], scores_fake.shape[0]
            real = ((scores_real - 1) ** 2).sum() / n_real
            fake = scores_fake.pow(2).sum() / n_fake
            return 0.5 * real + 0.5 * fake
        ''',
    },
    "ls_generator_loss": {
        "mse_loss against ones": '''
        import torch.nn.functional as F

        def ls_generator_loss(scores_fake):
            return 0.5 * F.mse_loss(scores_fake, torch.ones_like(scores_fake))
        ''',
        "torch.square(1 - s) / 2": '''
        def ls_generator_loss(scores_fake):
            return torch.square(1 - scores_fake).mean() / 2
        ''',
        "dot product of the residual with itself": '''
        def ls_generator_loss(scores_fake):
            r = scores_fake.reshape(-1) - 1
            return 0.5 * torch.dot(r, r) / r.numel()
        ''',
    },
    "get_optimizer": {
        "keywords, betas as a list": '''
        def get_optimizer(model):
            return torch.optim.Adam(params=model.parameters(), lr=0.001, betas=[0.5, 0.999])
        ''',
        "positional, parameters listed": '''
        from torch import optim

        def get_optimizer(model):
            params = list(model.parameters())
            return optim.Adam(params, 1e-3, (0.5, 0.999))
        ''',
        "one parameter group dict, defaults spelled out": '''
        def get_optimizer(model):
            return torch.optim.Adam([{"params": [p for p in model.parameters() if p.requires_grad]}],
                                    lr=1e-3, betas=(0.5, 0.999), eps=1e-8, weight_decay=0, foreach=False)
        ''',
    },
    "build_dc_classifier": {
        "Module subclass with functional pooling": '''
        import torch.nn.functional as F

        class _DCClassifier(nn.Module):
            def __init__(self, batch_size):
                super().__init__()
                self.batch_size = batch_size
                self.conv1 = nn.Conv2d(1, 32, 5)
                self.conv2 = nn.Conv2d(32, 64, 5)
                self.fc1 = nn.Linear(1024, 1024)
                self.fc2 = nn.Linear(1024, 1)

            def forward(self, x):
                x = x.view(self.batch_size, 1, 28, 28)
                x = F.max_pool2d(F.leaky_relu(self.conv1(x), 0.01), 2)
                x = F.max_pool2d(F.leaky_relu(self.conv2(x), 0.01), 2)
                x = F.leaky_relu(self.fc1(x.flatten(1)), 0.01)
                return self.fc2(x)

        def build_dc_classifier(batch_size):
            return _DCClassifier(batch_size)
        ''',
        "pool before the activation (a monotone activation commutes with max)": '''
        def build_dc_classifier(batch_size):
            return nn.Sequential(
                Unflatten(batch_size, 1, 28, 28),
                nn.Conv2d(1, 32, 5, stride=1, padding=0), nn.MaxPool2d(2), nn.LeakyReLU(),
                nn.Conv2d(32, 64, 5, stride=1, padding=0), nn.MaxPool2d(2), nn.LeakyReLU(),
                nn.Flatten(),
                nn.Linear(64 * 4 * 4, 64 * 4 * 4), nn.LeakyReLU(negative_slope=0.01),
                nn.Linear(64 * 4 * 4, 1),
            )
        ''',
        "shape computed with a dummy forward": '''
        def build_dc_classifier(batch_size):
            features = nn.Sequential(
                nn.Conv2d(1, 32, kernel_size=(5, 5)), nn.LeakyReLU(0.01), nn.MaxPool2d((2, 2), (2, 2)),
                nn.Conv2d(32, 64, kernel_size=(5, 5)), nn.LeakyReLU(0.01), nn.MaxPool2d((2, 2), (2, 2)),
            )
            with torch.no_grad():
                n_flat = features(torch.zeros(1, 1, 28, 28)).numel()
            return nn.Sequential(Unflatten(batch_size, 1, 28, 28), *features, Flatten(),
                                 nn.Linear(n_flat, n_flat), nn.LeakyReLU(0.01), nn.Linear(n_flat, 1))
        ''',
    },
    "build_dc_generator": {
        "Module subclass, view instead of (Un)Flatten": '''
        import torch.nn.functional as F

        class _DCGenerator(nn.Module):
            def __init__(self, noise_dim):
                super().__init__()
                self.fc1 = nn.Linear(noise_dim, 1024)
                self.bn1 = nn.BatchNorm1d(1024)
                self.fc2 = nn.Linear(1024, 7 * 7 * 128)
                self.bn2 = nn.BatchNorm1d(7 * 7 * 128)
                self.up1 = nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1)
                self.bn3 = nn.BatchNorm2d(64)
                self.up2 = nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1)

            def forward(self, z):
                h = self.bn1(F.relu(self.fc1(z)))
                h = self.bn2(F.relu(self.fc2(h)))
                h = self.bn3(F.relu(self.up1(h.view(-1, 128, 7, 7))))
                return torch.tanh(self.up2(h)).view(z.shape[0], 784)

        def build_dc_generator(noise_dim=NOISE_DIM):
            return _DCGenerator(noise_dim)
        ''',
        "torch's nn.Unflatten and nn.Flatten": '''
        def build_dc_generator(noise_dim=NOISE_DIM):
            return nn.Sequential(
                nn.Linear(noise_dim, 1024), nn.ReLU(inplace=True), nn.BatchNorm1d(1024),
                nn.Linear(1024, 6272), nn.ReLU(inplace=True), nn.BatchNorm1d(6272),
                nn.Unflatten(1, (128, 7, 7)),
                nn.ConvTranspose2d(128, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1)),
                nn.ReLU(inplace=True), nn.BatchNorm2d(64, eps=1e-5, momentum=0.1),
                nn.ConvTranspose2d(64, 1, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1)),
                nn.Tanh(),
                nn.Flatten(),
            )
        ''',
    },
}

WRONG = {
    "sample_noise": {
        "not rescaled: uniform on [0, 1)": '''
        def sample_noise(batch_size, dim, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return torch.rand(batch_size, dim)
        ''',
        "Gaussian noise clipped to (-1, 1)": '''
        def sample_noise(batch_size, dim, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return torch.randn(batch_size, dim).clamp(-0.999, 0.999)
        ''',
        "shifted by -1 only: uniform on (-1, 0)": '''
        def sample_noise(batch_size, dim, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return torch.rand(batch_size, dim) - 1
        ''',
        "seed ignored": '''
        def sample_noise(batch_size, dim, seed=None):
            return 2 * torch.rand(batch_size, dim) - 1
        ''',
        "seeded after drawing": '''
        def sample_noise(batch_size, dim, seed=None):
            z = 2 * torch.rand(batch_size, dim) - 1
            if seed is not None:
                torch.manual_seed(seed)
            return z
        ''',
        "shape transposed": '''
        def sample_noise(batch_size, dim, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return (2 * torch.rand(dim, batch_size) - 1).T
        ''',
    },
    "discriminator": {
        "LeakyReLU slope 0.2": '''
        def discriminator(seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.2),
                                 nn.Linear(256, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
        ''',
        "ReLU instead of LeakyReLU": '''
        def discriminator(seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(Flatten(), nn.Linear(784, 256), nn.ReLU(),
                                 nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
        ''',
        "sigmoid at the end: probabilities, not logits": '''
        def discriminator(seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.01),
                                 nn.Linear(256, 256), nn.LeakyReLU(0.01), nn.Linear(256, 1), nn.Sigmoid())
        ''',
        "hidden layers of 512": '''
        def discriminator(seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(Flatten(), nn.Linear(784, 512), nn.LeakyReLU(0.01),
                                 nn.Linear(512, 512), nn.LeakyReLU(0.01), nn.Linear(512, 1))
        ''',
        "no activation after the second layer": '''
        def discriminator(seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.01),
                                 nn.Linear(256, 256), nn.Linear(256, 1))
        ''',
        "dropout between the layers (not in the specification)": '''
        def discriminator(seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.01), nn.Dropout(0.3),
                                 nn.Linear(256, 256), nn.LeakyReLU(0.01), nn.Dropout(0.3), nn.Linear(256, 1))
        ''',
        "seed ignored": '''
        def discriminator(seed=None):
            return nn.Sequential(Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.01),
                                 nn.Linear(256, 256), nn.LeakyReLU(0.01), nn.Linear(256, 1))
        ''',
    },
    "generator": {
        "no tanh: unbounded pixels": '''
        def generator(noise_dim=NOISE_DIM, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                 nn.Linear(1024, 784))
        ''',
        "sigmoid output: pixels in (0, 1), real images in (-1, 1)": '''
        def generator(noise_dim=NOISE_DIM, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                 nn.Linear(1024, 784), nn.Sigmoid())
        ''',
        "LeakyReLU hidden activations": '''
        def generator(noise_dim=NOISE_DIM, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.LeakyReLU(0.01), nn.Linear(1024, 1024),
                                 nn.LeakyReLU(0.01), nn.Linear(1024, 784), nn.Tanh())
        ''',
        "default noise size 100": '''
        def generator(noise_dim=100, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                 nn.Linear(1024, 784), nn.Tanh())
        ''',
        "second hidden layer of 512": '''
        def generator(noise_dim=NOISE_DIM, seed=None):
            if seed is not None:
                torch.manual_seed(seed)
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.Linear(1024, 512), nn.ReLU(),
                                 nn.Linear(512, 784), nn.Tanh())
        ''',
    },
    "discriminator_loss": {
        "labels swapped": '''
        def discriminator_loss(logits_real, logits_fake):
            return bce_loss(logits_real, torch.zeros_like(logits_real)) + bce_loss(logits_fake, torch.ones_like(logits_fake))
        ''',
        "fakes labelled real too": '''
        def discriminator_loss(logits_real, logits_fake):
            return bce_loss(logits_real, torch.ones_like(logits_real)) + bce_loss(logits_fake, torch.ones_like(logits_fake))
        ''',
        "unstable log(sigmoid) and log(1 - sigmoid)": '''
        def discriminator_loss(logits_real, logits_fake):
            return -torch.log(torch.sigmoid(logits_real)).mean() - torch.log(1 - torch.sigmoid(logits_fake)).mean()
        ''',
        "log1p(exp(.)) without the stable rewrite (the sanity check's numpy formula)": '''
        def discriminator_loss(logits_real, logits_fake):
            return torch.log1p(torch.exp(-logits_real)).mean() + torch.log1p(torch.exp(logits_fake)).mean()
        ''',
        "BCE on probabilities (log clamped at -100)": '''
        import torch.nn.functional as F

        def discriminator_loss(logits_real, logits_fake):
            p_real, p_fake = torch.sigmoid(logits_real), torch.sigmoid(logits_fake)
            return F.binary_cross_entropy(p_real, torch.ones_like(p_real)) + F.binary_cross_entropy(p_fake, torch.zeros_like(p_fake))
        ''',
        "sums, not means": '''
        import torch.nn.functional as F

        def discriminator_loss(logits_real, logits_fake):
            return F.softplus(-logits_real).sum() + F.softplus(logits_fake).sum()
        ''',
        "real logits detached: D learns only from the fakes": '''
        def discriminator_loss(logits_real, logits_fake):
            return bce_loss(logits_real.detach(), torch.ones_like(logits_real)) + bce_loss(logits_fake, torch.zeros_like(logits_fake))
        ''',
        "sign flipped: the objective D maximises, minimised": '''
        def discriminator_loss(logits_real, logits_fake):
            return -(bce_loss(logits_real, torch.ones_like(logits_real)) + bce_loss(logits_fake, torch.zeros_like(logits_fake)))
        ''',
    },
    "generator_loss": {
        "saturating: minimise log(1 - D(G(z)))": '''
        def generator_loss(logits_fake):
            return -bce_loss(logits_fake, torch.zeros_like(logits_fake))
        ''',
        "fakes labelled fake: G helps D": '''
        def generator_loss(logits_fake):
            return bce_loss(logits_fake, torch.zeros_like(logits_fake))
        ''',
        "unstable -log(sigmoid)": '''
        def generator_loss(logits_fake):
            return -torch.log(torch.sigmoid(logits_fake)).mean()
        ''',
        "log1p(exp(-x)) without the stable rewrite": '''
        def generator_loss(logits_fake):
            return torch.log1p(torch.exp(-logits_fake)).mean()
        ''',
        "logits detached to 'freeze D': no gradient reaches G": '''
        def generator_loss(logits_fake):
            return bce_loss(logits_fake.detach(), torch.ones_like(logits_fake))
        ''',
        "sum, not mean": '''
        import torch.nn.functional as F

        def generator_loss(logits_fake):
            return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake), reduction="sum")
        ''',
    },
    "ls_discriminator_loss": {
        "without the 1/2": '''
        def ls_discriminator_loss(scores_real, scores_fake):
            return ((scores_real - 1) ** 2).mean() + (scores_fake ** 2).mean()
        ''',
        "targets swapped": '''
        def ls_discriminator_loss(scores_real, scores_fake):
            return 0.5 * (scores_real ** 2).mean() + 0.5 * ((scores_fake - 1) ** 2).mean()
        ''',
        "sign of the real target: (s + 1)^2": '''
        def ls_discriminator_loss(scores_real, scores_fake):
            return 0.5 * ((scores_real + 1) ** 2).mean() + 0.5 * (scores_fake ** 2).mean()
        ''',
        "absolute errors, not squared": '''
        def ls_discriminator_loss(scores_real, scores_fake):
            return 0.5 * (scores_real - 1).abs().mean() + 0.5 * scores_fake.abs().mean()
        ''',
        "fake scores detached": '''
        def ls_discriminator_loss(scores_real, scores_fake):
            return 0.5 * ((scores_real - 1) ** 2).mean() + 0.5 * (scores_fake.detach() ** 2).mean()
        ''',
        "sigmoid of the scores first": '''
        def ls_discriminator_loss(scores_real, scores_fake):
            r, f = torch.sigmoid(scores_real), torch.sigmoid(scores_fake)
            return 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean()
        ''',
    },
    "ls_generator_loss": {
        "target 0 instead of 1": '''
        def ls_generator_loss(scores_fake):
            return 0.5 * (scores_fake ** 2).mean()
        ''',
        "without the 1/2": '''
        def ls_generator_loss(scores_fake):
            return ((scores_fake - 1) ** 2).mean()
        ''',
        "sum, not mean": '''
        def ls_generator_loss(scores_fake):
            return 0.5 * ((scores_fake - 1) ** 2).sum()
        ''',
        "target -1": '''
        def ls_generator_loss(scores_fake):
            return 0.5 * ((scores_fake + 1) ** 2).mean()
        ''',
        "a Python number: .item() cuts the gradient": '''
        def ls_generator_loss(scores_fake):
            return torch.tensor(0.5 * ((scores_fake - 1) ** 2).mean().item())
        ''',
    },
    "get_optimizer": {
        "default betas (0.9, 0.999)": '''
        def get_optimizer(model):
            return torch.optim.Adam(model.parameters(), lr=1e-3)
        ''',
        "AdamW with its default weight decay": '''
        def get_optimizer(model):
            return torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
        ''',
        "learning rate 1e-4": '''
        def get_optimizer(model):
            return torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999))
        ''',
        "betas swapped": '''
        def get_optimizer(model):
            return torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.999, 0.5))
        ''',
        "maximize=True ('D maximises the objective')": '''
        def get_optimizer(model):
            return torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999), maximize=True)
        ''',
        "SGD with momentum 0.5": '''
        def get_optimizer(model):
            return torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.5)
        ''',
        "only the weights, biases left out": '''
        def get_optimizer(model):
            weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
            return torch.optim.Adam(weights, lr=1e-3, betas=(0.5, 0.999))
        ''',
    },
    "build_dc_classifier": {
        "average pooling": '''
        def build_dc_classifier(batch_size):
            return nn.Sequential(Unflatten(batch_size, 1, 28, 28), nn.Conv2d(1, 32, 5), nn.LeakyReLU(0.01),
                                 nn.AvgPool2d(2, 2), nn.Conv2d(32, 64, 5), nn.LeakyReLU(0.01), nn.AvgPool2d(2, 2),
                                 Flatten(), nn.Linear(1024, 1024), nn.LeakyReLU(0.01), nn.Linear(1024, 1))
        ''',
        "padding 2 ('same' convolutions, 7*7*64 features)": '''
        def build_dc_classifier(batch_size):
            return nn.Sequential(Unflatten(batch_size, 1, 28, 28), nn.Conv2d(1, 32, 5, padding=2), nn.LeakyReLU(0.01),
                                 nn.MaxPool2d(2, 2), nn.Conv2d(32, 64, 5, padding=2), nn.LeakyReLU(0.01), nn.MaxPool2d(2, 2),
                                 Flatten(), nn.Linear(7 * 7 * 64, 1024), nn.LeakyReLU(0.01), nn.Linear(1024, 1))
        ''',
        "ReLU instead of LeakyReLU": '''
        def build_dc_classifier(batch_size):
            return nn.Sequential(Unflatten(batch_size, 1, 28, 28), nn.Conv2d(1, 32, 5), nn.ReLU(),
                                 nn.MaxPool2d(2, 2), nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
                                 Flatten(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1))
        ''',
        "no activation after the hidden fully connected layer": '''
        def build_dc_classifier(batch_size):
            return nn.Sequential(Unflatten(batch_size, 1, 28, 28), nn.Conv2d(1, 32, 5), nn.LeakyReLU(0.01),
                                 nn.MaxPool2d(2, 2), nn.Conv2d(32, 64, 5), nn.LeakyReLU(0.01), nn.MaxPool2d(2, 2),
                                 Flatten(), nn.Linear(1024, 1024), nn.Linear(1024, 1))
        ''',
        "sigmoid at the end": '''
        def build_dc_classifier(batch_size):
            return nn.Sequential(Unflatten(batch_size, 1, 28, 28), nn.Conv2d(1, 32, 5), nn.LeakyReLU(0.01),
                                 nn.MaxPool2d(2, 2), nn.Conv2d(32, 64, 5), nn.LeakyReLU(0.01), nn.MaxPool2d(2, 2),
                                 Flatten(), nn.Linear(1024, 1024), nn.LeakyReLU(0.01), nn.Linear(1024, 1), nn.Sigmoid())
        ''',
        "stride-2 convolutions instead of pooling": '''
        def build_dc_classifier(batch_size):
            return nn.Sequential(Unflatten(batch_size, 1, 28, 28), nn.Conv2d(1, 32, 5, stride=2), nn.LeakyReLU(0.01),
                                 nn.Conv2d(32, 64, 5, stride=2), nn.LeakyReLU(0.01),
                                 Flatten(), nn.Linear(1024, 1024), nn.LeakyReLU(0.01), nn.Linear(1024, 1))
        ''',
    },
    "build_dc_generator": {
        "batch norm before ReLU": '''
        def build_dc_generator(noise_dim=NOISE_DIM):
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
                                 nn.Linear(1024, 6272), nn.BatchNorm1d(6272), nn.ReLU(), Unflatten(-1, 128, 7, 7),
                                 nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                                 nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(), Flatten())
        ''',
        "no tanh": '''
        def build_dc_generator(noise_dim=NOISE_DIM):
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.BatchNorm1d(1024),
                                 nn.Linear(1024, 6272), nn.ReLU(), nn.BatchNorm1d(6272), Unflatten(-1, 128, 7, 7),
                                 nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(), nn.BatchNorm2d(64),
                                 nn.ConvTranspose2d(64, 1, 4, 2, 1), Flatten())
        ''',
        "kernel 3 with output_padding (same sizes, other weights)": '''
        def build_dc_generator(noise_dim=NOISE_DIM):
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.BatchNorm1d(1024),
                                 nn.Linear(1024, 6272), nn.ReLU(), nn.BatchNorm1d(6272), Unflatten(-1, 128, 7, 7),
                                 nn.ConvTranspose2d(128, 64, 3, 2, 1, output_padding=1), nn.ReLU(), nn.BatchNorm2d(64),
                                 nn.ConvTranspose2d(64, 1, 3, 2, 1, output_padding=1), nn.Tanh(), Flatten())
        ''',
        "first batch norm left out": '''
        def build_dc_generator(noise_dim=NOISE_DIM):
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(),
                                 nn.Linear(1024, 6272), nn.ReLU(), nn.BatchNorm1d(6272), Unflatten(-1, 128, 7, 7),
                                 nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(), nn.BatchNorm2d(64),
                                 nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(), Flatten())
        ''',
        "images left as (N, 1, 28, 28)": '''
        def build_dc_generator(noise_dim=NOISE_DIM):
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.BatchNorm1d(1024),
                                 nn.Linear(1024, 6272), nn.ReLU(), nn.BatchNorm1d(6272), Unflatten(-1, 128, 7, 7),
                                 nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(), nn.BatchNorm2d(64),
                                 nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
        ''',
        "channels unflattened as (7, 7, 128)": '''
        def build_dc_generator(noise_dim=NOISE_DIM):
            class ChannelsLast(nn.Module):
                def forward(self, x):
                    return x.reshape(-1, 7, 7, 128).permute(0, 3, 1, 2)
            return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.BatchNorm1d(1024),
                                 nn.Linear(1024, 6272), nn.ReLU(), nn.BatchNorm1d(6272), ChannelsLast(),
                                 nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(), nn.BatchNorm2d(64),
                                 nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(), Flatten())
        ''',
    },
}
