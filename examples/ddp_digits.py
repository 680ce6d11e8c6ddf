"""ResNet-18 on the bundled 8x8 digits, data-parallel over MPI ranks.

    python -m tapegrad.distributed.run -n 2 examples/ddp_digits.py --steps 20
    srun -n 8 --mpi=pmix python examples/ddp_digits.py          # on a Slurm cluster

Each rank reads its own share of every epoch through DistributedSampler, the batch
norms are SyncBatchNorm (statistics of the global batch) and DistributedDataParallel
averages the gradients during backward, so every rank holds the same model after
every step. Rank 0 prints the loss and, at the end, whether all replicas agree.
"""
from __future__ import annotations

import argparse
import time

import tapegrad as torch
import tapegrad.distributed as dist
from tapegrad import nn
from tapegrad.nn.parallel import DistributedDataParallel
from tapegrad.utils.data import DataLoader, DistributedSampler
from tapegrad.vision import datasets, models, transforms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16, help="per rank")
    parser.add_argument("--size", type=int, default=16, help="images are upsampled to size x size")
    args = parser.parse_args()

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    print(f"rank {rank} of {world}", flush=True)

    tf = transforms.Compose([
        transforms.Resize((args.size, args.size)),
        transforms.Lambda(lambda t: t.expand(3, args.size, args.size)),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    data = datasets.Digits(train=True, transform=tf)
    sampler = DistributedSampler(data, shuffle=True, seed=0, drop_last=True)
    loader = DataLoader(data, batch_size=args.batch_size, sampler=sampler, drop_last=True)

    torch.manual_seed(rank)            # different on purpose: DDP starts every rank from rank 0's
    net = nn.SyncBatchNorm.convert_sync_batchnorm(models.resnet18(num_classes=10))
    model = DistributedDataParallel(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    step, epoch, start = 0, 0, time.perf_counter()
    while step < args.steps:
        sampler.set_epoch(epoch)
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            step += 1
            if rank == 0 and (step % 5 == 0 or step == 1):
                print(f"step {step:3d}  loss {loss.item():.3f}", flush=True)
            if step == args.steps:
                break
        epoch += 1
    elapsed = time.perf_counter() - start

    # Every replica must hold the same parameters: compare a checksum across ranks.
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
    sums = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(sums, checksum)
    if rank == 0:
        agree = all(bool(s == sums[0]) for s in sums)
        images = args.steps * args.batch_size * world
        print(f"replicas agree: {agree}; {images / elapsed:.0f} images/s over {world} ranks")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
