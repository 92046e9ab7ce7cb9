#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quicsend.py: QUIC v1 client Initial datagrams for e2e_sniff.sh.

  send --host H --port P --which rfc|split|tail|junk [--gap-ms N]
      from one UDP socket: rfc = RFC 9001 A.2's protected client Initial
      (DCID 8394c8f03e515708, SNI example.com, 1200 bytes); split = the same
      ClientHello in two Initials of two datagrams, the tail (CRYPTO offset
      100..) first, then the head; tail = the tail alone (the hello never
      completes); junk = 64 bytes that are no QUIC at all
  recv --host H --port P --count N --out FILE --timeout S
      write the hex of each datagram received, one a line, in order
  show --which W
      print the hex of what send sends, one datagram a line

The split datagrams were protected with the project's own code (the
tests/unit/test_sniff.c protector: the keys of that DCID, packet numbers 0
and 1, 2-byte packet numbers, PADDING to 1100 bytes of frames); the RFC
packet is the RFC's own bytes.
"""
import argparse
import socket
import sys
import time

RFC = (
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123"
    "dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f3991c260ec4c60d17b3"
    "1f8429157bb35a1282a643a8d2262cad67500cadb8e7378c8eb7539ec4d4905fed1bee1f"
    "c8aafba17c750e2c7ace01e6005f80fcb7df621230c83711b39343fa028cea7f7fb5ff89"
    "eac2308249a02252155e2347b63d58c5457afd84d05dfffdb20392844ae812154682e9cf"
    "012f9021a6f0be17ddd0c2084dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5"
    "a6cf3948838a3aec4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7ba"
    "d1db4ba3485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c7b4378e8"
    "46d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f89937f5a67258bf63"
    "ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556be52afe3f565636ad1b17d50"
    "8b73d8743eeb524be22b3dcbc2c7468d54119c7468449a13d8e3b95811a198f3491de3e7"
    "fe942b330407abf82a4ed7c1b311663ac69890f4157015853d91e923037c227a33cdd5ec"
    "281ca3f79c44546b9d90ca00f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c481"
    "9e8b9c5927726632291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699d"
    "bfe5896425c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ffef132eef"
    "2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198e3fc433f9f254101"
    "0ae17c1bf202580f6047472fb36857fe843b19f5984009ddc324044e847a4f4a0ab34f71"
    "9595de37252d6235365e9b84392b061085349d73203a4a13e96f5432ec0fd4a1ee65accd"
    "d5e3904df54c1da510b0ff20dcc0c77fcb2c0e0eb605cb0504db87632cf3d8b4dae6e705"
    "769d1de354270123cb11450efc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d06"
    "9fc33bd801b03adea2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb"
    "5e72404790a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f440591f35"
    "5e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca06948109f23f350db"
    "82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e8f2e6ff5800175f113253d8f"
    "a9ca8885c2f552e657dc603f252e1a8e308f76f0be79e2fb8f5d5fbbe2e30ecadd220723"
    "c8c0aea8078cdfcb3868263ff8f0940054da48781893a7e49ad5aff4af300cd804a6b627"
    "9ab3ff3afb64491c85194aab760d58a606654f9f4400e8b38591356fbf6425aca26dc852"
    "44259ff2b19c41b9f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f"
    "5aa731b4056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241e221af44"
    "860018ab0856972e194cd934")
TAIL = (
    "c700000001088394c8f03e5157080000445ed67541b251bedaf1a626c3a64f95c6bb77e5"
    "223410e3ab70846b03bf75cae59cba4059ea09d4313696288666d2f40d17b936009684a3"
    "e6abba5da4ded28835691933ba5055fcfa068dbb6d438e74de34bb49aab41fee9ffd8950"
    "7917dd0420a03d02b0e62d0593e7aeddc36302155aa3540f6aeb2141c660b4cb8a5ac60c"
    "065e002efe19faf27b17ebdfac6d647e5aa2c02d49ea33d27ff3427312f0432a0c869b0d"
    "54d96b2e4e685ac5cfcd74081e022f797b9dc00bac96579e770b3d476eda129909e27144"
    "5ddf02025ea00c2d0259f618bf53904afa456dccfde05f3c9885aab414419ab18308ebca"
    "313228235cf156a8f1aa9f695e2ea8751aa89ee3d60eeea95a3e85ea7fc663b48e5304bf"
    "7c7a618e44bf69067a5912b11c84fb9ccc668b8e43cc198870bd8308279b5021a13addd6"
    "098431413dca76e46560b52a544c090faaf69b7afbbb59c64ae4b8d0097b1e14258d0c46"
    "0526fc25761367a87838c2c978e45a4f7ba01f7d22054407116b3c15e9d2ee51bd3ce305"
    "c69ebb9df2b65d731358e3c424462fa431439888ba4f17e8e4635da8c7809cefa7ccb05a"
    "7c22a1dffa46903a955f4b06ddd9ed367c017a3fcdaf51eb4482cffffabcffab26604871"
    "e64508d2ce2b89e61a982efdcfad27fea65e93e693620bcc92d7e862d6dd8a79a9934890"
    "56aeff4abe9ff7ef19901d11f42d0e8fc1e93aac3d7e197f42d785aa00f90348c4a4aa1f"
    "310351cda3d064abd9ef561001f37071a84a70bf416ffce1b06c4fae8a14119176093460"
    "be2223db2bdc971cc9e46b5f5866abf8631b9d1e09ef39b278ca436191c3b708290bfd45"
    "9f7f3267a72bee7ae3e478b087b73ede75f6844da2abbfe46ced45a65521a895496ea16d"
    "a2b85cc7db738a0d500896a070a3be60833c3fc75b4bf2641df9113d3d6cca42d5e8c942"
    "03301767ab433c28827a52f1a8e89ea6a62280c2b84872c92427177e05a9e968ba0baa7c"
    "0797c9f1ea63afd605fdba4734e9929784284f23a1868466253408e980827830b1f5cabb"
    "513975596e2e4b2b4aa34d14f6bb695674219e805658f3362f2eca475d08b84baf9662ab"
    "91361c44b35b0724fbd07dcfc1ff68369ba9fc60d3348bfb5f2978874cb925e3b51c36e0"
    "b2ae85f985d22304ee495f72c076a3dbb6b3bd5faa2a41268f61b96eca9d1f283f566f4a"
    "fb6e36fc070c7ba5e8a72a2cebecaab613e0301fcaa9cec2ce2033fa2d170137fd56a27f"
    "ebc1a0031997e1ce206bcaf606b442c166e26fc81f78edf743dae67b91a02f4e1fc6aa42"
    "19e47dc919743de4f2b7399860298712fcf82f798c5b8fc32553ac6639836fae63e64b04"
    "fe3446eb09c376e8167a31cb2db62eba9c0d531d39588fade1f7a2998a08e323f0d68387"
    "1d43882aba2fcca4ed81319bb1b3ef9247dd04875601b96bec45b7af2c9b74969ec30dfd"
    "5305ffff2ad690c32d3f6f3bf203169b0acba5ced76c1fdc0670f4390c22ff75968104fd"
    "4ab5aa7a3fa0eacbe3b7fbd24f43063b33080504b8050b8680655ca4d991bbc88cbbfd5c"
    "323f9a50f2f9b4354f76636bfff2e26ba64ae6c9")
HEAD = (
    "c600000001088394c8f03e5157080000445e312e6c3aebd80687c223e2de775cc82a170c"
    "5aded2c19b61272640eb9c362a8dec9a3d25febcbf3e9ceec9712434559cf9541b08c6c9"
    "52dc16446218b80db9cd7f77a9d2ca412aa7e475ecd6268756534a417d90bc7c39fb69d3"
    "822697f3ad67196828539b92c3e9aa30584bbfd4d9e62d3e2973686036e2450eb4ede9bf"
    "a61c8d6461cd072cdfafe7da45ac60ffa0b76a1994c5c26efe65d12a1dfac24073f4d1ff"
    "8f48bfecb8d7bafb5a6f8e5a6290fd5e878aae969c5f2c4c22ec6332cc86b489115b7eb9"
    "f6173a1548298b67b8163c6ea0a002cf59da99be59786623408441eb92053c3188085df9"
    "1ce7d96607a8827565c2576d77ef70cd89450a06453d4a9bd7771f28022d903c483ab728"
    "dcd0f822f1a544cc9ffb83f6afeb196508c7c135a85c9f19bc2e9acff69f693a05a36b8b"
    "b1211ce0cec89986c636d93dab4f5f3eaa9f603e2b6daea7c0089366abafe359960925b6"
    "4b6b572c23b56f5c34d283b6139165af02a6b5061166d0c45fb1a39d758066cc8bd8a884"
    "e9c3b54cd133ecf75827173696400dbaf8135f1b7c669321b84d4cec45025884b059c21b"
    "e4bd73a80887390e506eb0be4fee889b003cdd498d20de1d7e952b0c9e3502b69bd0779c"
    "c100489ae92990045baea0c6aa17d0249a2832526699390ab3f3af4243be8e03557e3c67"
    "443a8ffd2f3bfbe96bd1a8c276c2e85b9638b56d4be21904460a19ff0696cf8874fb3f3a"
    "08df8a3a5afc26a50c0c9832591b0fe209be6289b30dac81cecb34182cf3aeff93e69183"
    "88beb095e4f5a4da847e911758b69bcbad9778d6a30827d7e4b917f5b7c40c2be0f98178"
    "763f6aa0f8db6a9d6df13ca62d4571bbe3a7c751e6b193bf44fcb6c1e7d7f748023cd81b"
    "cbfa4846d4ce85936d04604abcd04eeab2f04d933bf03ae33af0147e0b320db0c737693c"
    "3343a7a03e540a606e1bd0932d4eebc71881e9a2c76ebc89afdfb615411f69dd3068106d"
    "cc47e1bf48ffbed2ffb48acf0983349637cea74b9cd485e428be646026a73835eea7fa8c"
    "f2429cb2344b8de3c391d4cefc6f2a30c859f8fc21d08a22c5c953e1a868cbefa1913845"
    "7fe780a4ff400dfb2634b0353eb7f455d7f5941768476509d32d5e8eb888b64a21833a8b"
    "19c519fb0036fdc60cfd0cd27ba525a41cd228ab25ab8a2428d7d4b689e91dcb166e5741"
    "ff40951d72c106f049091e8a1b834dc4c8c9f14fad3dacb53f927e6ca5b6245e5a6d711d"
    "6cd9ba57cf6b4020f0a5888955c2f1a35808010f9155d8e9cce2dfec3a2c7735f64cf2fa"
    "0ac934d1a3e0dd356da2cea6e07e9c0dd7760310aa768ec9c4dfbaeb585349d0e8cae650"
    "76b67cb4d55e51710f11ed52a712bec9743d1a824ec3fe1190762b9dbbc4b8f50ecd10cc"
    "740b6bcc5f614606d049365eb6f41340c32ce19b640a25dde450cd3bee891da2ebc4e2d3"
    "60770b288258670085d56479838e8d4c574c8ee93773f2d206195ca33a87fee7b9f6f465"
    "e9fe0fd5c496c75c1cdada8674a0c1afe8dc059beb7af721308111c7739a63ebc87f60b9"
    "11ff11f0fd1983371a9247b63e9cdb1d1e6b4217")
JUNK = "00" * 64


def datagrams(which):
    return {"rfc": [RFC], "split": [TAIL, HEAD], "tail": [TAIL], "junk": [JUNK]}[which]


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["send", "recv", "show"])
    ap.add_argument("--host")
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--which", default="rfc")
    ap.add_argument("--gap-ms", type=int, default=50)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    if a.mode == "show":
        for d in datagrams(a.which):
            print(d)
        return 0
    s = socket.socket(family(a.host), socket.SOCK_DGRAM)
    if a.mode == "send":
        for i, d in enumerate(datagrams(a.which)):
            if i:
                time.sleep(a.gap_ms / 1000.0)
            s.sendto(bytes.fromhex(d), (a.host, a.port))
        return 0
    s.bind((a.host, a.port))
    deadline = time.monotonic() + a.timeout
    got = []
    while len(got) < a.count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            break
        got.append(data.hex())
        with open(a.out, "w") as f:
            f.write("".join(g + "\n" for g in got))
    if len(got) < a.count:
        print(f"recv: {len(got)} of {a.count} datagrams in {a.timeout}s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
