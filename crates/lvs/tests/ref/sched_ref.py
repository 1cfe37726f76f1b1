# Independent Python model of the kernel IPVS sh/dh/mh hashing (hash_32, bucket fill,
# hsiphash = SipHash-1-3 on 64-bit, Maglev populate) that produced the expected values
# pinned in src/sched/tests.rs. Run: python3 sched_ref.py
import ipaddress
M=(1<<64)-1
def rol(x,b): return ((x<<b)|(x>>(64-b)))&M
def rnd(v):
    v0,v1,v2,v3=v
    v0=(v0+v1)&M; v1=rol(v1,13); v1^=v0; v0=rol(v0,32)
    v2=(v2+v3)&M; v3=rol(v3,16); v3^=v2
    v0=(v0+v3)&M; v3=rol(v3,21); v3^=v0
    v2=(v2+v1)&M; v1=rol(v1,17); v1^=v2; v2=rol(v2,32)
    return [v0,v1,v2,v3]
def hsip(val,k0,k1):
    v=[0x736f6d6570736575^k0,0x646f72616e646f6d^k1,0x6c7967656e657261^k0,0x7465646279746573^k1]
    b=(4<<56)|val
    v[3]^=b; v=rnd(v); v[0]^=b; v[2]^=0xff
    for _ in range(3): v=rnd(v)
    return (v[0]^v[1]^v[2]^v[3]) & 0xffffffff
def fold(a):
    a=ipaddress.ip_address(a)
    if a.version==4: return int(a)
    x=int(a); r=0
    for i in range(4): r^=(x>>(32*i))&0xffffffff
    return r
def h32(x): return ((x*0x61C88647)&0xffffffff)>>24
def legacy(x): return (x*2654435761)&0xff
def table(ws,weighted):
    t=[];p=0;c=0
    for i in range(256):
        t.append(p); c+=1
        if (not weighted) or c>=ws[p]: p=(p+1)%len(ws); c=0
    return t
import math
def mh(servers):  # list of (addr,port,lw)
    N=4093
    g=0
    for _,_,w in servers:
        if w>0: g = math.gcd(w,g) if g>0 else w
    mw=max(w for *_,w in servers)//g
    sh=max(mw.bit_length()-6,0)
    perm=[];skip=[];turns=[]
    for a,p,w in servers:
        v=(fold(a)+p)&0xffffffff
        perm.append(hsip(v,2654435761,2654435761)%N)
        skip.append(hsip(v,2654446892,2654446892)%(N-1)+1)
        t=(w//g)>>sh
        turns.append(t if t>0 else int(w!=0))
    taken=[False]*N; look=[None]*N; n=0; dt=0
    while True:
        i=0
        while i<len(servers):
            if turns[i]<1: i+=1; continue
            c=perm[i]
            while taken[c]:
                perm[i]+=skip[i]
                if perm[i]>=N: perm[i]-=N
                c=perm[i]
            taken[c]=True; look[c]=i; n+=1
            if n==N: return look
            dt+=1
            if dt>=turns[i]: dt=0; i+=1
def mhslot(src): return hsip(fold(src),2654435761,2654435761)%4093

clients=["198.51.100.1","198.51.100.2","198.51.100.3","198.51.100.200","192.0.2.77","2001:db8::1"]
print("h32 buckets",[h32(fold(c)) for c in clients])
print("legacy buckets",[legacy(fold(c)) for c in clients])
t=table([1,1,1,1],True)
print("sh w1111",[t[h32(fold(c))] for c in clients])
t=table([3,1,0,2],True)
print("sh w3102 table head",t[:12])
print("sh w3102",[t[h32(fold(c))] for c in clients])
print("sh legacy w1111",[table([1,1,1,1],True)[legacy(fold(c))] for c in clients])
vips=["203.0.113.241","203.0.113.242","203.0.113.243","198.51.100.9"]
print("dh",[table([1,1,1,1],False)[h32(fold(v))] for v in vips])
S=[("203.0.113.8",80,1),("203.0.113.10",80,1),("203.0.113.11",80,1),("203.0.113.13",80,1)]
look=mh(S)
print("mh counts",[look.count(i) for i in range(4)])
print("mh slots",[mhslot(c) for c in clients])
print("mh picks",[look[mhslot(c)] for c in clients])
S2=[("203.0.113.8",80,4),("203.0.113.10",80,2),("203.0.113.11",80,1),("203.0.113.13",80,1)]
look2=mh(S2)
print("mh2 counts",[look2.count(i) for i in range(4)])
print("mh2 picks",[look2[mhslot(c)] for c in clients])
print("hsip(0)",hsip(0,2654435761,2654435761))
